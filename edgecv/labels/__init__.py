"""Class-name sets shipped with edgecv, one name per line: ``imagenet-1k``, ``coco-80``, ``voc-21``, ``digits``."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_labels(label_set: str) -> tuple[str, ...]:
    """Class names of a label set shipped with edgecv."""
    text = resources.files(__name__).joinpath(f"{label_set}.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)
