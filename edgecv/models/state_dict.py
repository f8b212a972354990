"""Reading weights files safely: safetensors, or torch.load(weights_only=True). A file is data, never code."""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import WeightsError

# Containers other tools wrap a state dict in (Lightning, timm/torchvision training scripts, ultralytics-like).
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "ema", "net", "params")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a PyTorch file, refusing anything but tensors."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"cannot read {path.name} as safetensors: {exc}") from exc
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing; the error says enough
            warnings.simplefilter("ignore", UserWarning)
            obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(_unpickling_message(path, str(exc))) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise WeightsError(f"cannot read {path.name} as a PyTorch checkpoint: {exc}") from exc
    return _unwrap(obj, path)


def _unpickling_message(path: Path, message: str) -> str:
    # torch wraps the real reason ("Unsupported global: GLOBAL builtins.print") in a long paragraph.
    match = re.search(r"WeightsUnpickler error:\s*(.+?)\n", message, re.S)
    reason = (match.group(1) if match else message.strip().splitlines()[0]).strip().split(". ")[0]
    if "Unsupported global" in reason:
        return (f"refusing to load {path.name}: it holds Python objects, not just tensors ({reason}); "
                "save a plain state_dict or safetensors")
    return (f"cannot read {path.name} as a PyTorch checkpoint: it is corrupt or uses pickle features "
            f"that safe loading refuses ({reason})")


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):  # e.g. {"model": {"state_dict": {...}}}
        if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj, dict) and isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not (isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise WeightsError(f"{path.name} does not hold a state dict (a mapping of names to tensors)")
    # nn.DataParallel / DistributedDataParallel and torch.compile prefixes
    for prefix in ("module.", "_orig_mod."):
        if all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


def classes_in_state_dict(state: dict[str, torch.Tensor], key: str) -> int | None:
    """The class count a checkpoint was trained for, read off its classifier weight."""
    tensor = state.get(key)
    return int(tensor.shape[0]) if tensor is not None and tensor.dim() >= 1 else None


def load_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load strictly, turning missing, unexpected or mis-shaped keys into one readable error."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            problems.append(f"{label}: {', '.join(items[:3])}{more}")
    if problems:
        name = Path(source).name
        raise WeightsError(f"{name} does not fit {type(model).__name__}: {'; '.join(problems)}")
    model.load_state_dict(state, strict=True)
