"""The artifact contract: an exported model file plus the metadata any runtime needs to run it correctly.

The metadata (task, labels, preprocessing, input/output layout, dtype and quantization, NMS settings,
source hash, edgecv version) is one JSON document stored *in* the file -- ONNX ``metadata_props["edgecv"]``,
the TFLite model's ``metadata`` table under ``"edgecv"`` -- and, for TFLite, also as a sidecar
``<file>.json``. Reading it needs no onnx or TFLite package: both containers are parsed here with the
standard library, so the on-device script can do the same with numpy alone.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError

METADATA_KEY = "edgecv"
FORMAT_SUFFIX = {"onnx": ".onnx", "tflite": ".tflite"}


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
        return self.path.stat().st_size

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "precision": self.precision,
                "size_bytes": self.size_bytes, "seconds": round(self.seconds, 2), "parity": self.parity,
                "accuracy": self.accuracy}


def artifact_name(model: str, imgsz: int, precision: str, fmt: str, batch: int | None = 1,
                  layout: str | None = None) -> str:
    """``mobilenet_v2-224-int8.tflite``; a batch other than 1 adds ``-b8`` (``-dyn`` when dynamic), a
    layout other than the format's default adds ``-nchw`` / ``-nhwc``."""
    parts = [model, str(imgsz), precision]
    if batch is None:
        parts.append("dyn")
    elif batch != 1:
        parts.append(f"b{batch}")
    default_layout = "NHWC" if fmt == "tflite" else "NCHW"
    if layout and layout != default_layout:
        parts.append(layout.lower())
    return "-".join(parts) + FORMAT_SUFFIX[fmt]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_metadata(path: str | Path) -> dict[str, Any] | None:
    """The edgecv metadata of an ``.onnx`` or ``.tflite`` file, or None when it has none (a foreign model)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"model file not found: {path}")
    data = path.read_bytes()
    try:
        if path.suffix == ".onnx":
            text = onnx_metadata_props(data).get(METADATA_KEY)
        elif path.suffix == ".tflite":
            text = tflite_metadata(data).get(METADATA_KEY)
            if text is None and sidecar_path(path).is_file():
                text = sidecar_path(path).read_text(encoding="utf-8")
        else:
            raise UsageError(f"{path.name}: not an .onnx or .tflite file")
    except (struct.error, IndexError, ValueError) as exc:
        raise UsageError(f"{path.name} is not a readable {path.suffix[1:]} model ({exc})") from None
    return json.loads(text) if text else None


# --- ONNX: a protobuf; ModelProto.metadata_props is field 14, StringStringEntryProto is {1: key, 2: value} ---

def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _proto_fields(buf: bytes):
    """Yield ``(field_number, wire_type, value)``; length-delimited values are bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def onnx_metadata_props(data: bytes) -> dict[str, str]:
    props = {}
    for number, wire, value in _proto_fields(data):
        if number == 14 and wire == 2:
            entry = {n: v for n, _, v in _proto_fields(value)}
            props[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
    return props


# --- TFLite: a flatbuffer; Model.buffers is field 4, Model.metadata field 6 = [Metadata {name, buffer}] ---

def _table_field(buf: bytes, table: int, index: int) -> int | None:
    """Absolute position of field ``index`` of the table at ``table``, or None when absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vt_size = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * index
    if slot >= vt_size:
        return None
    offset = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + offset if offset else None


def _deref(buf: bytes, pos: int) -> int:
    return pos + struct.unpack_from("<I", buf, pos)[0]


def _vector(buf: bytes, pos: int) -> tuple[int, int]:
    """(length, position of first element) of the vector referenced at ``pos``."""
    start = _deref(buf, pos)
    return struct.unpack_from("<I", buf, start)[0], start + 4


def _tables(buf: bytes, table: int, index: int) -> list[int]:
    pos = _table_field(buf, table, index)
    if pos is None:
        return []
    n, first = _vector(buf, pos)
    return [_deref(buf, first + 4 * k) for k in range(n)]


def tflite_metadata(data: bytes) -> dict[str, str]:
    """``name -> text`` of the metadata entries whose buffer holds its bytes inline."""
    if data[4:8] != b"TFL3":
        raise ValueError("missing the TFL3 file identifier")
    model = _deref(data, 0)
    buffers = _tables(data, model, 4)
    out = {}
    for meta in _tables(data, model, 6):
        name_pos, buffer_pos = _table_field(data, meta, 0), _table_field(data, meta, 1)
        if name_pos is None or buffer_pos is None:
            continue
        n, first = _vector(data, name_pos)
        name = data[first:first + n].decode()
        index = struct.unpack_from("<I", data, buffer_pos)[0]
        if index >= len(buffers):
            continue
        data_pos = _table_field(data, buffers[index], 0)
        if data_pos is not None:
            n, first = _vector(data, data_pos)
            out[name] = data[first:first + n].decode("utf-8", errors="replace")
    return out
