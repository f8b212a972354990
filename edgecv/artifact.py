"""The artifact contract: an exported model file plus the metadata any runtime needs to run it correctly.

The metadata (task, labels, preprocessing, input/output layout, dtype and quantization, NMS settings,
source hash, edgecv version) is one JSON document stored *in* the file -- ONNX ``metadata_props["edgecv"]``,
the TFLite model's ``metadata`` table under ``"edgecv"`` -- and, for TFLite, also as a sidecar
``<file>.json``. Reading it needs no onnx or TFLite package: both containers are parsed with the standard
library by the on-device core (``edgecv/portable/metadata.py``), whose readers are used here too.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EdgecvError, UsageError
from .formats import exporter_class, format_of, suffixes
from .model_files import model_bytes, sidecar_path
from .portable.metadata import METADATA_KEY, onnx_metadata_props, tflite_metadata
from .tasks import TASKS

DETECTION_NMS = {"conf_thres": 0.25, "iou_thres": 0.45, "max_det": 300, "class_agnostic": False}


@dataclass
class Artifact:
    path: Path
    format: str
    precision: str
    metadata: dict[str, Any]
    parity: dict[str, Any] | None = None  # filled in by the parity check
    accuracy: dict[str, float] | None = None  # filled in when asked to evaluate on the val split
    seconds: float = 0.0  # time the export took

    @property
    def size_bytes(self) -> int:
        return model_bytes(self.path)  # with its external data or weights file

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "precision": self.precision,
                "size_bytes": self.size_bytes, "seconds": round(self.seconds, 2), "parity": self.parity,
                "accuracy": self.accuracy}


def output_roles(task: str) -> list[str]:
    """What each output of a ``task``'s graph is, in order (recorded in the artifact's metadata)."""
    return list(TASKS[task].outputs)


def model_metadata(card: Any, pre: Any, fmt: str, precision: str, inputs: list, outputs: list, roles: list[str],
                   source: dict[str, Any]) -> dict[str, Any]:
    """The contract for a model (a card and its preprocessing) in a format, with its I/O tensors."""
    from ._version import __version__

    meta: dict[str, Any] = {
        "edgecv_version": __version__, "format": fmt, "precision": precision, "model": card.name,
        "task": card.task, "num_classes": card.num_classes, "labels": card.label_names(),
        "preprocess": pre.to_dict(), "inputs": [i.to_dict() for i in inputs],
        "outputs": [{**o.to_dict(), "role": role} for o, role in zip(outputs, roles)], "source": source,
    }
    if card.task == "segmentation":
        meta["segmentation"] = {"logits": "[B, classes, H, W] at the network input's size; argmax over classes",
                                "ignore_index": 255}
    if card.task == "detection":
        meta["detection"] = {"boxes": "x1,y1,x2,y2 in network-input pixels", "scores": "per-class sigmoid",
                             "nms": DETECTION_NMS}
    return meta


def artifact_name(model: str, imgsz: int, precision: str, fmt: str, batch: int | None = 1,
                  layout: str | None = None) -> str:
    """``mobilenet_v2-224-int8.tflite``; a batch other than 1 adds ``-b8`` (``-dyn`` when dynamic), a
    layout other than the format's default adds ``-nchw`` / ``-nhwc``."""
    parts = [model, str(imgsz), precision]
    if batch is None:
        parts.append("dyn")
    elif batch != 1:
        parts.append(f"b{batch}")
    exporter = exporter_class(fmt)
    if layout and layout != exporter.default_layout:
        parts.append(layout.lower())
    return "-".join(parts) + exporter.suffix


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename: a full disk or a
    Ctrl-C leaves the old file or the new one, never half of one. A write error names the file."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise EdgecvError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise


def writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written in it, before any long work."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".edgecv-write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write to {folder}/: {exc.strerror or exc}") from None


def read_metadata(path: str | Path) -> dict[str, Any] | None:
    """The edgecv metadata of a model file (``.onnx``, ``.tflite`` or a plugin format's), or None when it has
    none (a model from another tool)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"model file not found: {path}")
    fmt = format_of(path)
    if fmt is None:
        raise UsageError(f"{path.name}: not a model file edgecv reads ({', '.join(sorted(suffixes()))})")
    from .portable.contract import ContractError, parse_metadata

    try:
        text = exporter_class(fmt).read_metadata_text(path)
    except (struct.error, IndexError, ValueError) as exc:
        raise UsageError(f"{path.name} is not a readable {path.suffix[1:]} model ({exc})") from None
    try:
        return parse_metadata(text, path.name)  # the contract, checked once where it is read
    except ContractError as exc:
        raise UsageError(str(exc)) from None


__all__ = ["Artifact", "METADATA_KEY", "artifact_name", "onnx_metadata_props", "read_metadata", "sidecar_path",
           "tflite_metadata", "write_atomic"]
