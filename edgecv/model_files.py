"""What a model file is on disk beyond its own bytes: ONNX external data (``FILE.onnx.data``, written by current
``torch.onnx.export`` for anything but a tiny model) and an OpenVINO IR's ``.bin``.
Its size is the model's size, and its bytes are part of what
a saved row was measured on, so both the size column and the resume fingerprint count them."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (read in chunks: model files can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def companion_files(path: str | Path) -> list[Path]:
    """The files a model's bytes are split into besides its own: the external-data files an ``.onnx`` names,
    inside its own folder (onnxruntime refuses any other), sorted; an OpenVINO IR's ``.bin`` weights. Empty for
    other formats, for a file without external data, or where the onnx package is not installed."""
    path = Path(path)
    if path.suffix == ".xml":
        weights = ir_weights(path)
        return [weights] if weights.is_file() else []
    if path.suffix != ".onnx" or not path.is_file():
        return []
    try:
        import onnx
    except ImportError:
        return []
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # an unreadable file: the cell that opens it says what is wrong
        return []
    folder = path.parent.resolve()
    found = set()
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), None)
        if location:
            target = (path.parent / location).resolve()
            if target.is_file() and folder in target.parents:
                found.add(target)
    return sorted(found)


def ir_weights(path: Path) -> Path:
    """Where an OpenVINO IR's weights lie: the ``.bin`` of the same stem, which OpenVINO opens beside the ``.xml``."""
    return Path(path).with_suffix(".bin")


SIDECAR_SUFFIXES = (".edgecv.yaml", ".edgecv.yml", ".edgecv.json")  # the facts a user writes for a foreign file


def sidecar_for(model: Path) -> Path | None:
    """``model.onnx.edgecv.yaml`` (or ``.yml``/``.json``) beside the model, else None (``interop/sidecar.py``
    reads it)."""
    for suffix in SIDECAR_SUFFIXES:
        candidate = model.with_name(model.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def sidecar_path(path: Path) -> Path:
    """Where a model file's edgecv metadata sidecar lies: ``FILE.json`` (TFLite writes one)."""
    return path.with_name(path.name + ".json")


def beside(path: str | Path) -> list[Path]:
    """Every file a model file is not whole without: its edgecv ``.json`` sidecar, the ``.edgecv.yaml`` facts a
    user wrote for it and its ONNX external data. What a saved row was measured on, and what a Ray worker needs."""
    path = Path(path)
    found = [p for p in (sidecar_path(path), sidecar_for(path)) if p is not None and p.is_file()]
    return found + companion_files(path)


def model_bytes(path: str | Path) -> int:
    """The file's size plus its external data's."""
    return Path(path).stat().st_size + sum(p.stat().st_size for p in companion_files(path))


__all__ = ["SIDECAR_SUFFIXES", "beside", "companion_files", "file_digest", "ir_weights", "model_bytes", "sidecar_for",
           "sidecar_path"]
