"""Turn what a user types (a zoo name, maybe with --weights, or a checkpoint file) into a model."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import UsageError
from .api import create_model, load_checkpoint

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")


def load_target(target: str, weights: str | None = None, require_weights: bool = False) -> nn.Module:
    """``target`` is a checkpoint from ``edgecv train`` or a zoo name. A zoo name loads ``weights``, else
    its default weights when edgecv ships some; ``require_weights`` refuses a randomly initialised model."""
    if is_user_module(target):
        return load_user_module(target, weights)
    path = Path(target)
    if path.suffix in CHECKPOINT_SUFFIXES:
        if weights is not None:
            raise UsageError(f"{target} is a checkpoint already; --weights goes with a model name")
        if not path.is_file():
            raise UsageError(f"checkpoint not found: {target}")
        return load_checkpoint(path)
    from ..weights import has_default
    from .api import get_card

    get_card(target)  # an unknown name is said as such, with its did-you-mean, before anything about weights
    if weights is None and has_default(target):
        weights = "default"
    if weights is None and require_weights:
        raise UsageError(f"{target} has no default weights: pass --weights FILE or a checkpoint from edgecv train")
    return create_model(target, weights=weights)


def is_user_module(target: str) -> bool:
    file, sep, factory = target.rpartition(":")
    return bool(sep) and file.endswith(".py") and factory.isidentifier()


def load_user_module(target: str, weights: str | None = None, input_size: int = 224) -> nn.Module:
    """``path/to/module.py:factory`` -> ``factory()``, a user's own classification ``nn.Module``.

    The model gets a card with ImageNet preprocessing at ``input_size`` and the class count read from
    its output; ``weights`` (a state-dict file) is loaded when given.
    """
    import importlib.util

    import torch

    from ..preprocess import Preprocess
    from .card import ModelCard
    from .state_dict import load_state_dict, read_state_dict

    file, _, factory = target.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise UsageError(f"module file not found: {file}")
    spec = importlib.util.spec_from_file_location(f"edgecv_user_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise UsageError(f"cannot import {file}: {type(exc).__name__}: {exc}") from None
    build = getattr(module, factory, None)
    if not callable(build):
        raise UsageError(f"{file} has no callable {factory!r}")
    model = build()
    if not isinstance(model, nn.Module):
        raise UsageError(f"{target} returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        load_state_dict(model, read_state_dict(weights), source=weights)
    model.eval()
    with torch.inference_mode():
        out = model(torch.zeros(1, 3, input_size, input_size))
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise UsageError(f"{target} must return class logits [batch, classes]; it returned "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
    model.card = ModelCard(name=factory, family="user", task="classification",
                           description=f"user model {target}", preprocess=Preprocess(input_size=input_size),
                           num_classes=int(out.shape[1]), labels=None, num_classes_key="")
    model.checkpoint_meta = None
    return model
