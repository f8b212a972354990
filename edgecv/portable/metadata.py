"""The edgecv metadata inside a model file, read without onnx or TFLite: ONNX ``metadata_props`` (protobuf)
and the TFLite ``metadata`` table (flatbuffer), parsed by hand with the standard library."""

from __future__ import annotations

import struct
from pathlib import Path

from .errors import DeviceError

METADATA_KEY = "edgecv"


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
    """ModelProto.metadata_props is field 14; each entry is ``{1: key, 2: value}``."""
    props = {}
    for number, wire, value in _proto_fields(data):
        if number == 14 and wire == 2:
            entry = {n: v for n, _, v in _proto_fields(value)}
            props[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
    return props


def _table_field(buf: bytes, table: int, index: int) -> int | None:
    """Absolute position of field ``index`` of the flatbuffer table at ``table``, or None when absent."""
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
    start = _deref(buf, pos)
    return struct.unpack_from("<I", buf, start)[0], start + 4


def _tables(buf: bytes, table: int, index: int) -> list[int]:
    pos = _table_field(buf, table, index)
    if pos is None:
        return []
    n, first = _vector(buf, pos)
    return [_deref(buf, first + 4 * k) for k in range(n)]


def tflite_metadata_bytes(data: bytes) -> dict[str, bytes]:
    """``name -> bytes`` of Model.metadata (field 6) entries whose Model.buffers (field 4) entry is inline."""
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
            out[name] = data[first:first + n]
    return out


def tflite_metadata(data: bytes) -> dict[str, str]:
    """``name -> text`` of the model's inline metadata entries."""
    return {k: v.decode("utf-8", errors="replace") for k, v in tflite_metadata_bytes(data).items()}


def read_metadata_text(path: Path) -> str | None:
    """The edgecv metadata JSON text of a model file (TFLite: in the file, else its ``.json`` sidecar)."""
    data = path.read_bytes()
    if path.suffix == ".onnx":
        return onnx_metadata_props(data).get(METADATA_KEY)
    if path.suffix == ".tflite":
        text = tflite_metadata(data).get(METADATA_KEY)
        sidecar = path.with_name(path.name + ".json")
        return text if text is not None or not sidecar.is_file() else sidecar.read_text(encoding="utf-8")
    raise ValueError(f"{path.name}: not an .onnx or .tflite file")


def load_metadata(path: Path) -> dict | None:
    """The file's edgecv metadata, checked against the contract (``contract.py``), or None when it has none."""
    from .contract import parse_metadata

    try:
        text = read_metadata_text(path)
    except (ValueError, IndexError, struct.error, OSError) as exc:
        raise DeviceError(f"{path.name} is not a readable {path.suffix[1:] or 'model'} file ({exc})") from None
    return parse_metadata(text, path.name)


def match_outputs(metadata: dict | None, names: list) -> dict | None:
    """The metadata with its output names made the file's own: a ``.tflite`` stripped of its SignatureDef
    names tensors as the converter did (``StatefulPartitionedCall:0``), not ``output_0``; outputs are then
    matched by position."""
    recorded = (metadata or {}).get("outputs") or []
    if not recorded or len(recorded) != len(names) or all(o["name"] in names for o in recorded):
        return metadata
    return {**metadata, "outputs": [{**o, "name": n} for o, n in zip(recorded, names)]}
