"""What TFLite Support metadata says (written by TF Lite Model Maker, MediaPipe Model Maker and the
``tflite_support.metadata_writers``), in edgecv's terms.

The metadata is a ``ModelMetadata`` flatbuffer (file identifier ``M001``) in the model's ``TFLITE_METADATA``
entry; label files ride in a zip appended to the model. From the first input: ``NormalizationOptions``
(``x = (pixel - mean) / std`` in 0-255 units, so edgecv's mean is ``mean / 255`` and std ``std / 255``) and
``ImageProperties`` (colour space, default size); from the first output: its ``TENSOR_AXIS_LABELS`` file.
The schema's field numbers are those of ``metadata_schema.fbs``; it is parsed with the standard library, as
the on-device core parses the model itself.
"""

from __future__ import annotations

import struct
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

from ..portable.metadata import _deref, _table_field, _tables, _vector, tflite_metadata_bytes

NAME = "tflite_support"
KEY = "TFLITE_METADATA"
NORMALIZATION, IMAGE_PROPERTIES, TENSOR_AXIS_LABELS = 1, 2, 2  # union / enum values of the schema
GRAYSCALE = 2
MAX_LABELS_BYTES = 4 * 2**20


def _floats(buf: bytes, table: int, index: int) -> list[float] | None:
    pos = _table_field(buf, table, index)
    if pos is None:
        return None
    n, first = _vector(buf, pos)
    return list(struct.unpack_from(f"<{n}f", buf, first))


def _byte(buf: bytes, table: int, index: int) -> int | None:
    pos = _table_field(buf, table, index)
    return None if pos is None else buf[pos]


def _string(buf: bytes, table: int, index: int) -> str | None:
    pos = _table_field(buf, table, index)
    if pos is None:
        return None
    n, first = _vector(buf, pos)
    return buf[first:first + n].decode("utf-8", errors="replace")


def _tensor(buf: bytes, subgraph: int, index: int) -> int | None:
    tensors = _tables(buf, subgraph, index)
    return tensors[0] if tensors else None


def parse(buf: bytes) -> dict[str, Any]:
    """``{"mean", "std", "colour", "size", "labels_file"}`` (what is present) of a ModelMetadata flatbuffer."""
    root = _deref(buf, 0)
    subgraphs = _tables(buf, root, 3)
    found: dict[str, Any] = {}
    if not subgraphs:
        return found
    first_in, first_out = _tensor(buf, subgraphs[0], 2), _tensor(buf, subgraphs[0], 3)
    if first_in is not None:
        for unit in _tables(buf, first_in, 4):  # process_units
            if _byte(buf, unit, 0) == NORMALIZATION:
                options = _table_field(buf, unit, 1)
                if options is not None:
                    options = _deref(buf, options)
                    found["mean"], found["std"] = _floats(buf, options, 0), _floats(buf, options, 1)
        content = _table_field(buf, first_in, 3)
        if content is not None:
            content = _deref(buf, content)
            props = _table_field(buf, content, 1)
            if _byte(buf, content, 0) == IMAGE_PROPERTIES and props is not None:
                props = _deref(buf, props)
                found["colour"] = "GRAY" if _byte(buf, props, 0) == GRAYSCALE else "RGB"
                size = _table_field(buf, props, 1)
                if size is not None:
                    size = _deref(buf, size)
                    w, h = (_table_field(buf, size, i) for i in (0, 1))
                    if w is not None and h is not None:
                        found["size"] = (struct.unpack_from("<I", buf, w)[0], struct.unpack_from("<I", buf, h)[0])
    if first_out is not None:
        for entry in _tables(buf, first_out, 6):  # associated_files
            if _byte(buf, entry, 2) == TENSOR_AXIS_LABELS and _string(buf, entry, 0):
                found["labels_file"] = _string(buf, entry, 0)
                break
    return found


def _labels(data: bytes, name: str) -> list[str] | None:
    try:
        with zipfile.ZipFile(BytesIO(data)) as z:
            info = z.getinfo(name)
            if info.file_size > MAX_LABELS_BYTES:
                return None
            text = z.read(info).decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, KeyError, OSError):
        return None
    return [line.strip() for line in text.splitlines() if line.strip()] or None


def read(path: Path, data: bytes) -> dict[str, Any] | None:
    if path.suffix != ".tflite":
        return None
    blob = tflite_metadata_bytes(data).get(KEY)
    if not blob or blob[4:8] != b"M001":
        return None
    found = parse(blob)
    out: dict[str, Any] = {"producer": "TFLite Support metadata"}
    pre: dict[str, Any] = {}
    if found.get("mean") and found.get("std") and len(found["mean"]) == len(found["std"]):
        channels = 1 if found.get("colour") == "GRAY" else 3
        mean, std = found["mean"], found["std"]
        if len(mean) == 1:
            mean, std = mean * channels, std * channels
        pre["mean"] = [m / 255.0 for m in mean]
        pre["std"] = [s / 255.0 for s in std]
    if found.get("colour"):
        pre["colour"] = found["colour"]
    size = found.get("size")
    if size and size[0] == size[1] and size[0] > 0:
        pre["input_size"] = size[0]
    if pre:
        pre.setdefault("mode", "resize")  # the Task Library resizes the whole image to the input
        out["preprocess"] = pre
    if found.get("labels_file"):
        labels = _labels(data, found["labels_file"])
        if labels:
            out["labels"] = labels
    return out if len(out) > 1 else None


__all__ = ["NAME", "parse", "read"]
