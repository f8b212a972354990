"""The model table: ``@register_model`` on a builder records it with its card. Lookups (``list_models``,
``create_model``) are in ``api.py``, which imports the zoo so every built-in is registered first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..preprocess import Preprocess
from .card import ModelCard, Reference, Task

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., nn.Module]
    card: ModelCard  # params/macs are filled in from complexity.json when read


_REGISTRY: dict[str, _Entry] = {}
COMPLEXITY_FILE = "complexity.json"


def register_model(
    *,
    family: str,
    task: Task,
    preprocess: Preprocess,
    num_classes: int,
    labels: str | None,
    num_classes_key: str,
    description: str,
    reference: Reference | None = None,
    backbone: str | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder under its function name. Builders take keyword arguments only."""

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        card = ModelCard(
            name=name, family=family, task=task, description=description, preprocess=preprocess,
            num_classes=num_classes, labels=labels, num_classes_key=num_classes_key, reference=reference,
            backbone=backbone,
        )
        _REGISTRY[name] = _Entry(fn, card)
        return fn

    return decorator
