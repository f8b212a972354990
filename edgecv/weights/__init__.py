"""edgecv's default weights: small fp16 safetensors files shipped in this folder, listed in manifest.json
with their checksum, the command that reproduces them and the accuracy they measured."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UsageError, WeightsError


@lru_cache(maxsize=1)
def manifest() -> dict[str, dict[str, Any]]:
    text = resources.files(__name__).joinpath("manifest.json").read_text(encoding="utf-8")
    return json.loads(text)


def has_default(model: str) -> bool:
    return model in manifest()


def default_weights(model: str) -> Path:
    """The verified path of ``model``'s default weights."""
    entry = manifest().get(model)
    if entry is None:
        have = ", ".join(sorted(manifest())) or "none"
        raise UsageError(f"{model} has no default weights (models that do: {have}); "
                         f"train some with `edgecv train {model} --data ...` and pass --weights")
    path = Path(str(resources.files(__name__).joinpath(entry["file"])))
    if not path.is_file():
        raise WeightsError(f"default weights for {model} are missing from the installation: {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry["sha256"]:
        raise WeightsError(f"{path.name} does not match its checksum (corrupt or edited); reinstall edgecv")
    return path
