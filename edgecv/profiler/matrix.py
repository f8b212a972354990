"""What to measure: targets expanded into cells (one artifact on one runtime, provider and device).

A zoo name or checkpoint becomes one exported artifact per format x precision (exported once into a cache
folder keyed by its content hash), plus the PyTorch reference cell; an ``.onnx``/``.tflite`` file (edgecv's
or anyone's) or a folder of them becomes one cell per runtime that opens it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..formats import owned, suffixes
from ..model_files import file_digest  # noqa: F401  (re-exported: the profiler's callers import it from here)
from ..models.resolve import CHECKPOINT_SUFFIXES
from .row import row_key


@dataclass(frozen=True)
class Cell:
    model: str
    format: str  # formats.REFERENCE (pytorch) or an export format
    precision: str
    runtime: str
    provider: str
    device: str
    imgsz: int | str | None  # a square size, or "HxW" for a file's dynamic height/width
    batch: int
    target: str  # what the runtime opens: an artifact path, or the zoo name / checkpoint for torch
    info: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # params, macs, task, data...
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()  # --input-shape NAME=1x3x640x640, sorted by name

    @property
    def key(self) -> str:
        """The row's identity, as ``edgecv check`` matches rows; also what a resumed run skips."""
        return row_key(self.__dict__, self.shapes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expand_files(target: str) -> list[Path]:
    """A model file, or every model file (``.onnx``, ``.tflite``, a plugin format's) under a folder."""
    known = suffixes()
    path = Path(target)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in known and p.is_file() and owned(p))
        if not files:
            raise UsageError(f"no model files ({', '.join(sorted(known))}) in {target}")
        return files
    if path.is_file() and path.suffix not in known and path.suffix not in CHECKPOINT_SUFFIXES:
        raise UsageError(f"{path.name}: not a model file edgecv reads ({', '.join(sorted(known))}; a format plugin "
                         "adds others) nor a checkpoint")
    if path.suffix in known:
        if not path.is_file():
            raise UsageError(f"model file not found: {target}")
        return [path]
    return []


def fingerprint(cell: Cell, settings: dict[str, Any], version: str, data_cache: dict | None = None) -> str:
    """Everything that changes a row's numbers besides its key: the content measured (the file's bytes, or the
    PyTorch weights' digest), the data, limit, threads and timing settings, the input shapes and edgecv's
    version. A saved row is reused only when its fingerprint matches."""
    from ..model_files import beside

    target = Path(cell.target)
    content = cell.info.get("digest") or (file_digest(target) if target.is_file() else f"absent: {target}")
    if not cell.info.get("digest") and target.is_file():  # external data and sidecars change the numbers too
        content = [content, *(file_digest(p) for p in beside(target))]
    data = settings.get("data") or cell.info.get("data")
    cache = {} if data_cache is None else data_cache  # one walk of a dataset per profile, not one per cell
    if data not in cache:
        cache[data] = data_digest(data)
    text = json.dumps({"content": content, "settings": settings, "data": cache[data], "imgsz": cell.imgsz, "shapes": cell.shapes,
                       "edgecv": version}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_digest(data: str | None, max_files: int = 2_000_000) -> str | None:
    """What a dataset holds, cheaply: for a folder (or a data.yaml / COCO file and the folder it sits in) a hash
    of every file's relative path, size and modification time, so replaced images make saved accuracy stale; a
    built-in name stands for itself (edgecv's version is in the fingerprint)."""
    if not data:
        return None
    path = Path(data)
    if not path.exists():
        return f"name: {data}"
    root = path.parent if path.is_file() else path
    h = hashlib.sha256(file_digest(path).encode() if path.is_file() else b"folder")
    count = 0
    for p in sorted(root.rglob("*")):
        try:
            st = p.stat()
        except OSError:
            continue
        if p.is_file():
            h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            count += 1
            if count >= max_files:
                break
    return h.hexdigest()[:16]


def export_key(model: str, weights_digest: str, imgsz: int, batch: int, version: str, data: str | None = None) -> str:
    """Exports are cached by what determines their content (the data calibrates int8)."""
    text = f"{model}|{weights_digest}|{imgsz}|{batch}|{version}" + (f"|{data}" if data else "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]
