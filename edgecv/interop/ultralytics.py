"""What an Ultralytics export says about itself, in edgecv's terms.

Ultralytics writes the same dictionary into every export: ONNX ``metadata_props`` (each value ``str(value)``, so
``names`` and ``imgsz`` are Python literals) and, for TFLite, a ``metadata.json`` in a zip appended to the file.
Its keys: ``task`` (detect, classify, ...), ``names``, ``imgsz`` ``[h, w]``, ``stride``, ``batch``, ``end2end``
and ``args`` (``nms``, ``dynamic``, ...). Its preprocessing is fixed by the task: detection letterboxes with grey
114 padding, classification resizes the shorter side and crops the centre; both feed RGB pixels / 255.
"""

from __future__ import annotations

import ast
import json
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

from ..portable.metadata import onnx_metadata_props

NAME = "ultralytics"
TASKS = {"detect": "detection", "classify": "classification"}
MAX_JSON = 1 << 20


def _literal(value: Any) -> Any:
    """A Python literal Ultralytics wrote with ``str()`` (data: ``literal_eval`` never runs code)."""
    if not isinstance(value, str) or len(value) > MAX_JSON:
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def raw_metadata(path: Path, data: bytes) -> dict[str, Any] | None:
    """The dictionary Ultralytics stored in the file, or None when the file is not an Ultralytics export."""
    if path.suffix == ".onnx":
        props = onnx_metadata_props(data)
        meta = {k: _literal(v) if k in ("names", "imgsz", "args", "end2end", "stride", "batch") else v
                for k, v in props.items()}
    elif path.suffix == ".tflite":
        meta = _tflite_zip(data)
    else:
        return None
    if not meta or meta.get("author") != "Ultralytics" or "task" not in meta:
        return None
    return meta


def _tflite_zip(data: bytes) -> dict[str, Any] | None:
    try:
        with zipfile.ZipFile(BytesIO(data)) as z:
            info = z.getinfo("metadata.json")
            if info.file_size > MAX_JSON:
                return None
            return json.loads(z.read(info))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return None


def read(path: Path, data: bytes) -> dict[str, Any] | None:
    """edgecv metadata fields from an Ultralytics file; ``unsupported`` says why a task cannot be scored."""
    meta = raw_metadata(path, data)
    if meta is None:
        return None
    task = TASKS.get(str(meta["task"]))
    version = f"Ultralytics {meta.get('version', '')}".strip()
    if task is None:
        return {"producer": version, "unsupported": f"an Ultralytics {meta['task']} model: edgecv scores Ultralytics "
                                                    "detect and classify files"}
    out: dict[str, Any] = {"task": task, "producer": version}
    names = meta.get("names")
    if isinstance(names, dict) and all(str(k).isdigit() for k in names):  # JSON (TFLite) keys are strings
        by_index = {int(k): v for k, v in names.items()}
        out["labels"] = [str(by_index[k]) for k in sorted(by_index)]
    elif isinstance(names, list):
        out["labels"] = [str(n) for n in names]
    if "labels" in out:
        out["num_classes"] = len(out["labels"])
    size = meta.get("imgsz")
    size = [size, size] if isinstance(size, int) else size
    pre: dict[str, Any] = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "colour": "RGB",
                           "interpolation": "bilinear"}
    if isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) for s in size):
        if size[0] == size[1]:
            pre["input_size"] = size[0]
        else:
            out["unsupported"] = f"an Ultralytics file at {size[0]}x{size[1]}: edgecv prepares square inputs"
    if task == "detection":
        pre.update(mode="letterbox", pad_value=114)
        args = meta.get("args") if isinstance(meta.get("args"), dict) else {}
        end2end = bool(_literal(meta.get("end2end")) is True or args.get("nms"))
        out["head"] = "yolo_nms" if end2end else "yolov8"
        if path.suffix == ".tflite" and not end2end:
            out["detection"] = {"normalized": True}  # TFLite exports divide xywh by the image size
    else:
        pre.update(mode="center_crop")  # Resize(shorter side = size) then CenterCrop(size)
        out["head"] = "probs"  # classify exports end in softmax
    out["preprocess"] = pre
    return out


__all__ = ["NAME", "raw_metadata", "read"]
