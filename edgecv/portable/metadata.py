"""The edgecv metadata inside a model file, read without onnx, TFLite or OpenVINO: ONNX ``metadata_props``
(protobuf) and the TFLite ``metadata`` table (flatbuffer), parsed by hand with the standard library, and an
OpenVINO IR's ``rt_info`` (XML, read with the standard library's parser after refusing any DTD)."""

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


IR_XML_LIMIT = 256 * 2**20  # an IR's .xml holds the graph, not the weights (those are in the .bin)


def is_openvino_ir(head: bytes) -> bool:
    """Whether the start of an ``.xml`` file is an OpenVINO IR (``<net ...>``), not any other XML."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<?xml"):
        text = text[text.find(b"?>") + 2:].lstrip()
    return text.startswith(b"<net ") or text.startswith(b"<net>")


def openvino_rt_info(data: bytes) -> dict[str, str]:
    """``name -> value`` of the IR's top-level ``rt_info`` entries that hold a value (``<edgecv value="..."/>``).
    A DTD (entities: the billion-laughs expansion) is refused, not parsed."""
    import xml.etree.ElementTree as ET

    if len(data) > IR_XML_LIMIT:
        raise ValueError(f"the .xml is {len(data) / 2**20:.0f} MiB; an IR's graph is far smaller")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("it declares a DTD, which no OpenVINO IR has")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    if root.tag != "net":
        raise ValueError(f"its root element is <{root.tag}>, not an OpenVINO IR's <net>")
    info = root.find("rt_info")
    return {} if info is None else {e.tag: e.get("value") for e in info if e.get("value") is not None}


def read_metadata_text(path: Path) -> str | None:
    """The edgecv metadata JSON text of a model file (TFLite: in the file, else its ``.json`` sidecar)."""
    if path.suffix == ".xml" and path.stat().st_size > IR_XML_LIMIT:  # said before the bytes are read
        raise ValueError(f"the .xml is {path.stat().st_size / 2**20:.0f} MiB; an IR's graph is far smaller")
    data = path.read_bytes()
    if path.suffix == ".onnx":
        return onnx_metadata_props(data).get(METADATA_KEY)
    if path.suffix == ".tflite":
        text = tflite_metadata(data).get(METADATA_KEY)
        sidecar = path.with_name(path.name + ".json")
        return text if text is not None or not sidecar.is_file() else sidecar.read_text(encoding="utf-8")
    if path.suffix == ".xml":
        return openvino_rt_info(data).get(METADATA_KEY)
    raise ValueError(f"{path.name}: not an .onnx, .tflite or OpenVINO .xml file")


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
