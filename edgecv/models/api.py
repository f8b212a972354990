"""Find and build models: ``list_models``, ``get_card``, ``create_model(name, weights=...)`` and
``load_checkpoint``. The built-in zoo is imported (and so registered) on first use, keeping
``import edgecv`` free of torch."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError, WeightsError
from ..preprocess import Preprocess
from .card import TASKS, ModelCard
from .checkpoint import read_checkpoint_meta
from .registry import _REGISTRY, COMPLEXITY_FILE, _Entry

if TYPE_CHECKING:
    from torch import nn


def _ensure_loaded() -> None:
    from . import zoo  # noqa: F401  (importing registers every built-in model)


def list_models(task: str | None = None) -> list[str]:
    """Names of the registered models, optionally only those of one task."""
    _ensure_loaded()
    if task is not None and task not in TASKS:
        raise UsageError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    return sorted(n for n, e in _REGISTRY.items() if task is None or e.card.task == task)


def _entry(name: str) -> _Entry:
    _ensure_loaded()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; run `edgecv models` for the list"
        raise UsageError(f"unknown model {name!r}{hint}")
    return _REGISTRY[name]


@lru_cache(maxsize=1)
def _complexity() -> dict[str, dict[str, int]]:
    text = resources.files("edgecv.models").joinpath(COMPLEXITY_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def get_card(name: str) -> ModelCard:
    """The model card of a registered model, with its recorded params and MACs."""
    card = _entry(name).card
    measured = _complexity().get(name, {})
    return dataclasses.replace(card, params=measured.get("params"), macs=measured.get("macs"))


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered architecture with random initialisation (no weights)."""
    builder = _entry(name).builder
    accepted = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise UsageError(
                f"{name} does not take {', '.join(unknown)}; it takes: {', '.join(accepted) or 'nothing'}"
            )
    try:
        return builder(**kwargs)
    except ValueError as exc:  # the architectures validate their arguments with ValueError
        raise UsageError(f"{name}: {exc}") from exc


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    weights: str | Path | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a zoo model, optionally loading weights from a local safetensors or PyTorch file, or
    ``weights="default"`` for the weights edgecv ships (trained on its built-in data).

    With ``weights`` and no ``num_classes``, the class count is read from the file, so a checkpoint
    fine-tuned on 10 classes loads without repeating that number. The model carries its card as
    ``model.card``.
    """
    card = get_card(name)
    changes_size = bool(kwargs)  # architecture arguments other than num_classes change params/MACs
    state = None
    meta = None
    if weights == "default":
        from ..weights import default_weights

        weights = default_weights(name)
    if weights is not None:
        from .state_dict import classes_in_state_dict, read_state_dict

        meta = read_checkpoint_meta(weights)
        if meta is not None and meta.get("model") not in (None, name):
            raise UsageError(f"{Path(weights).name} holds {meta['model']} weights, not {name}")
        if meta is not None:  # rebuild the architecture the checkpoint was trained as
            kwargs = {**meta.get("model_args", {}), **kwargs}
        state = read_state_dict(weights)  # fp16-stored tensors load into fp32 parameters as they are
        found = classes_in_state_dict(state, card.num_classes_key)
        if num_classes is None:
            num_classes = found
        elif found is not None and found != num_classes:
            raise UsageError(
                f"{Path(weights).name} was trained for {found} classes but num_classes={num_classes} was asked"
            )
    if num_classes is not None:
        if num_classes < 1:
            raise UsageError(f"num_classes must be at least 1, got {num_classes}")
        kwargs["num_classes"] = num_classes
    model = build_model(name, **kwargs)
    if state is not None:
        from .state_dict import load_state_dict

        load_state_dict(model, state, source=str(weights))
    if num_classes is not None and num_classes != card.num_classes:
        card = dataclasses.replace(card, num_classes=num_classes, labels=None, params=None, macs=None)
    elif changes_size:
        card = dataclasses.replace(card, params=None, macs=None)
    if meta is not None:  # an edgecv checkpoint knows its class names and the preprocessing it was trained with
        card = dataclasses.replace(
            card, labels=tuple(meta["labels"]) if meta.get("labels") else card.labels,
            preprocess=Preprocess.from_dict(meta["preprocess"]) if meta.get("preprocess") else card.preprocess,
        )
    model.card = card
    model.checkpoint_meta = meta  # what edgecv recorded when training these weights, if anything
    return model


def load_checkpoint(path: str | Path) -> nn.Module:
    """Build the model an edgecv checkpoint was trained as, with its weights, labels and preprocessing."""
    meta = read_checkpoint_meta(path)
    if meta is None or not isinstance(meta.get("model"), str):
        raise WeightsError(f"{Path(path).name} is not an edgecv checkpoint (no model name inside); "
                           "pass the model name and --weights instead")
    return create_model(meta["model"], weights=path)
