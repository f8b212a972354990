"""edgecv checkpoints: a safetensors state dict plus the facts needed to use it (model, labels, preprocessing).

The facts live in the safetensors header (``__metadata__["edgecv"]``, JSON), so one file is the whole
checkpoint, it stays data-only, and other tools can still read the tensors.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from .._version import __version__
from ..errors import WeightsError

META_KEY = "edgecv"


def save_checkpoint(model: nn.Module, path: str | Path, meta: dict[str, Any], half: bool = False) -> Path:
    """Write ``model``'s weights and ``meta`` atomically. ``half`` stores float tensors as fp16."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    header = {META_KEY: json.dumps({**meta, "edgecv_version": __version__}, sort_keys=True)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=header)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint is an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_checkpoint_meta(path: str | Path) -> dict[str, Any] | None:
    """The edgecv facts stored in a safetensors file, or None for other files."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return None
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"cannot read {path.name} as safetensors: {exc}") from exc
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise WeightsError(f"{path.name} has a corrupt edgecv header: {exc}") from None
    if not isinstance(meta, dict):
        raise WeightsError(f"{path.name} has a corrupt edgecv header: not an object")
    return meta
