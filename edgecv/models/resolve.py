"""Turn what a user types (a zoo name, maybe with --weights, or a checkpoint file) into a model."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import UsageError
from .checkpoint import load_checkpoint
from .registry import create_model

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")


def load_target(target: str, weights: str | None = None, require_weights: bool = False) -> nn.Module:
    """``target`` is a checkpoint from ``edgecv train`` or a zoo name. A zoo name loads ``weights``, else
    its default weights when edgecv ships some; ``require_weights`` refuses a randomly initialised model."""
    path = Path(target)
    if path.suffix in CHECKPOINT_SUFFIXES:
        if weights is not None:
            raise UsageError(f"{target} is a checkpoint already; --weights goes with a model name")
        if not path.is_file():
            raise UsageError(f"checkpoint not found: {target}")
        return load_checkpoint(path)
    from ..weights import has_default

    if weights is None and has_default(target):
        weights = "default"
    if weights is None and require_weights:
        raise UsageError(f"{target} has no default weights: pass --weights FILE or a checkpoint from edgecv train")
    return create_model(target, weights=weights)
