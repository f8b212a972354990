#!/usr/bin/env python3
"""Run an edgecv artifact on a device with nothing but numpy and a runtime installed.

    python3 edgecv_device.py predict model.tflite photo.png [more images or folders] [--json]
    python3 edgecv_device.py info model.onnx
    python3 edgecv_device.py bench model.tflite --iters 50 --json
    python3 edgecv_device.py serve model.tflite      # framed requests on stdin (used by edgecv over SSH/qemu)

The runtime is onnxruntime for ``.onnx`` and ai_edge_litert (or the older tflite_runtime) for ``.tflite``.
Everything needed to use the model -- preprocessing, labels, I/O quantization, NMS settings -- is read
from the edgecv metadata inside the file. This one file is also what edgecv itself imports for those
steps (``edgecv.data.transforms``, ``edgecv.artifact``), so the host and the device cannot drift apart.
Images are decoded by Pillow when it is installed, otherwise PNG, PPM/PGM and .npy are read here.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import struct
import sys
import time
import warnings
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np

SCRIPT_VERSION = 1
MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb limit, kept by the reader without Pillow too
METADATA_KEY = "edgecv"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".npy"}


class DeviceError(Exception):
    """A problem the user can fix; printed as one line."""


# ---------------------------------------------------------------------------------------------------------
# Metadata: ONNX metadata_props (protobuf) and the TFLite metadata table (flatbuffer), read by hand.
# ---------------------------------------------------------------------------------------------------------

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


def tflite_metadata(data: bytes) -> dict[str, str]:
    """``name -> text`` of Model.metadata (field 6) entries whose Model.buffers (field 4) entry is inline."""
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


# ---------------------------------------------------------------------------------------------------------
# Images: decoding, then the preprocessing contract (edgecv.preprocess.Preprocess) in numpy.
# ---------------------------------------------------------------------------------------------------------

def read_image(path: Path) -> np.ndarray:
    """``HxWx3`` uint8 RGB, greyscale as ``HxWx1``; the same conversion as edgecv's own reader."""
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)  # the header first: nothing allocated yet
        except Exception as exc:
            raise DeviceError(f"cannot read image {path}: {str(exc).strip()[:200] or type(exc).__name__}") from None
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
            raise DeviceError(f"{path}: a .npy image must be HxW or HxWxC uint8, got {arr.dtype} {arr.shape}")
        if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
            raise DeviceError(f"cannot read image {path}: {arr.shape[1]}x{arr.shape[0]} is more than {MAX_PIXELS} "
                              "pixels")
        arr = np.array(arr)
        return arr[:, :, None] if arr.ndim == 2 else arr
    try:
        from PIL import Image
    except ImportError:
        return _read_without_pillow(path)
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and refuses only at twice that: refuse at the limit, as the
            # reader without Pillow does (a decompression bomb is a small file that decodes to gigabytes)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            im.load()
            if im.mode.startswith("I;16") or im.mode == "I":  # 16-bit grey: scale, never clip to white
                wide = np.asarray(im).astype(np.float32)
                arr = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
            else:
                arr = np.asarray(im.convert("L" if im.mode in ("L", "1") else "RGB"))
    except Exception as exc:  # Pillow raises several types for unreadable files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeviceError(f"cannot read image {path}: {reason}") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def _read_without_pillow(path: Path) -> np.ndarray:
    data = path.read_bytes()
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _decode_png(data)
        if data[:2] in (b"P5", b"P6"):
            return _decode_pnm(data)
    except (ValueError, IndexError, zlib.error, struct.error) as exc:
        raise DeviceError(f"cannot read image {path}: {exc}") from None
    raise DeviceError(f"cannot read image {path}: without Pillow only PNG, PPM/PGM and .npy are readable")


def _decode_pnm(data: bytes) -> np.ndarray:
    fields, pos = [], 2
    while len(fields) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(int(data[pos:end]))
        pos = end
    w, h, maxval = fields
    if maxval != 255:
        raise ValueError(f"only 8-bit PNM is supported (maxval {maxval})")
    c = 3 if data[:2] == b"P6" else 1
    return np.frombuffer(data, np.uint8, h * w * c, pos + 1).reshape(h, w, c).copy()


def _unfilter(raw: bytes, h: int, stride: int, bpp: int) -> np.ndarray:
    rows = np.frombuffer(raw, np.uint8).reshape(h, stride + 1)
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 0xFF
        elif kind == 1:  # Sub: a running sum along the row, per channel
            cur = (np.cumsum(line.reshape(-1, bpp), axis=0) & 0xFF).reshape(-1)
        elif kind in (3, 4):  # Average, Paeth: depend on the decoded left pixel, one byte at a time (slow)
            cur = np.zeros(stride, np.int32)
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
                if kind == 3:
                    pred = (a + b) >> 1
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + pred) & 0xFF
        else:
            raise ValueError(f"bad PNG filter type {kind}")
        out[y] = cur
        prev = cur
    return out


def _decode_png(data: bytes) -> np.ndarray:
    pos, idat, palette = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8: pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    if depth not in (8, 16) or interlace or (depth == 16 and colour == 3):
        raise ValueError("only 8- and 16-bit non-interlaced PNG is supported without Pillow")
    if w * h > MAX_PIXELS:
        raise ValueError(f"{w}x{h} pixels is more than {MAX_PIXELS} (a decompression bomb?)")
    size = depth // 8
    raw = _unfilter(zlib.decompress(b"".join(idat)), h, w * channels * size, channels * size)
    if size == 2:  # big-endian 16-bit samples, scaled to 8 bits as Pillow-based reading does
        raw = np.clip(np.rint(raw.view(">u2").astype(np.float32) / 257.0), 0, 255).astype(np.uint8)
    pixels = raw.reshape(h, w, channels)
    if colour == 3:
        return palette[pixels[:, :, 0]]
    if colour == 4:  # grey + alpha -> RGB, as Pillow's convert("RGB")
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    return pixels[:, :, :3]


def _filter(kind: str):
    if kind == "bilinear":
        return 1.0, lambda x: np.clip(1.0 - np.abs(x), 0.0, None)
    if kind == "bicubic":  # Keys cubic with a = -0.5, as Pillow
        a = -0.5

        def cubic(x):
            x = np.abs(x)
            return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                            np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))

        return 2.0, cubic
    raise ValueError(f"unknown interpolation {kind!r}")


@lru_cache(maxsize=256)
def resize_matrix(in_size: int, out_size: int, kind: str) -> np.ndarray:
    """``[out_size, in_size]`` weights mapping one axis of an image to its resized axis (antialiased)."""
    if kind == "nearest":
        src = np.minimum(((np.arange(out_size) + 0.5) * in_size / out_size).astype(np.int64), in_size - 1)
        m = np.zeros((out_size, in_size), np.float32)
        m[np.arange(out_size), src] = 1.0
        return m
    support, fn = _filter(kind)
    scale = in_size / out_size
    stretch = max(scale, 1.0)  # widen the kernel when shrinking: antialiasing, like Pillow
    centres = (np.arange(out_size) + 0.5) * scale
    taps = np.arange(in_size) + 0.5
    w = fn((taps[None, :] - centres[:, None]) / stretch)
    w[np.abs(taps[None, :] - centres[:, None]) >= support * stretch] = 0.0
    w /= w.sum(1, keepdims=True)
    return w.astype(np.float32)


def resize(image: np.ndarray, height: int, width: int, kind: str = "bilinear") -> np.ndarray:
    """Resize an ``HxWxC`` image (any dtype) to float32 ``height x width x C``."""
    img = image.astype(np.float32, copy=False)
    if img.shape[0] == height and img.shape[1] == width:
        return img.copy()
    rows = resize_matrix(img.shape[0], height, kind)
    cols = resize_matrix(img.shape[1], width, kind)
    clip = kind == "bicubic" and image.dtype == np.uint8  # Pillow stores 8-bit between passes: no overshoot
    out = np.einsum("pw,hwc->hpc", cols, img, optimize=True)  # horizontal pass first, as Pillow
    if clip:
        np.clip(out, 0, 255, out=out)
    out = np.einsum("oh,hpc->opc", rows, out, optimize=True)
    return np.clip(out, 0, 255, out=out) if clip else out


@dataclass(frozen=True)
class Geometry:
    """How input-image pixels map to network-input pixels: ``net = image * scale + (pad_x, pad_y)``."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Map ``[..., 4]`` xyxy boxes from network-input pixels back to the original image."""
        out = np.asarray(boxes, np.float32).copy()
        out[..., 0::2] = (out[..., 0::2] - self.pad_x) / self.scale_x
        out[..., 1::2] = (out[..., 1::2] - self.pad_y) / self.scale_y
        return out

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        out = np.asarray(boxes, np.float32).copy()
        out[..., 0::2] = out[..., 0::2] * self.scale_x + self.pad_x
        out[..., 1::2] = out[..., 1::2] * self.scale_y + self.pad_y
        return out


def to_colour(image: np.ndarray, colour: str) -> np.ndarray:
    """``HxW``, ``HxWx1``, ``HxWx3`` or ``HxWx4`` RGB(A) uint8 -> ``HxWxC`` in the contract's colour order."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if colour == "GRAY":
        if image.shape[2] == 3:  # ITU-R 601-2 luma, as Pillow's convert("L")
            image = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            image = np.clip(np.round(image), 0, 255)[:, :, None].astype(np.uint8)
        return image
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return image[:, :, ::-1] if colour == "BGR" else image


def geometry_and_pixels(image: np.ndarray, pre) -> tuple[np.ndarray, Geometry]:
    """Resize/crop/letterbox to ``pre.input_size`` square; float32 ``HxWxC`` in 0-255 plus the geometry."""
    h, w = image.shape[:2]
    size = pre.input_size
    if pre.mode == "resize":
        return resize(image, size, size, pre.interpolation), Geometry(size / w, size / h, 0.0, 0.0)
    if pre.mode == "center_crop":
        short = pre.resize_size or size
        scale = short / min(h, w)
        rh, rw = max(size, round(h * scale)), max(size, round(w * scale))
        resized = resize(image, rh, rw, pre.interpolation)
        top, left = (rh - size) // 2, (rw - size) // 2
        geo = Geometry(rw / w, rh / h, -float(left), -float(top))
        return resized[top: top + size, left: left + size], geo
    # letterbox: fit the longer side, centre, pad
    scale = size / max(h, w)
    rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
    canvas = np.full((size, size, image.shape[2]), float(pre.pad_value), np.float32)
    top, left = (size - rh) // 2, (size - rw) // 2
    canvas[top: top + rh, left: left + rw] = resize(image, rh, rw, pre.interpolation)
    return canvas, Geometry(rw / w, rh / h, float(left), float(top))


def preprocess(image: np.ndarray, pre) -> tuple[np.ndarray, Geometry]:
    """One uint8 image -> the network's float32 input (``CxHxW`` or ``HxWxC`` per ``pre.layout``).

    ``pre`` is an ``edgecv.preprocess.Preprocess`` or anything with its attributes (the metadata's dict
    wrapped in a namespace, on a device)."""
    pixels, geo = geometry_and_pixels(to_colour(image, pre.colour), pre)
    mean = np.asarray(pre.mean, np.float32) * 255.0
    std = np.asarray(pre.std, np.float32) * 255.0
    x = (pixels - mean) / std
    return (x.transpose(2, 0, 1) if pre.layout == "NCHW" else x).astype(np.float32), geo


def preprocess_batch(images: list[np.ndarray], pre) -> tuple[np.ndarray, list[Geometry]]:
    pairs = [preprocess(im, pre) for im in images]
    return np.stack([p[0] for p in pairs]), [p[1] for p in pairs]


# ---------------------------------------------------------------------------------------------------------
# Post-processing: softmax top-k, greedy per-class NMS (the same algorithm as edgecv's evaluator).
# ---------------------------------------------------------------------------------------------------------

def top_classes(logits: np.ndarray, k: int) -> list[tuple[int, float]]:
    z = logits.astype(np.float64) - logits.max()
    p = np.exp(z) / np.exp(z).sum()
    order = np.argsort(-p, kind="stable")[:k]
    return [(int(i), float(p[i])) for i in order]


def nms(boxes: np.ndarray, scores: np.ndarray, conf_thres: float = 0.25, iou_thres: float = 0.45,
        max_det: int = 300, max_candidates: int = 3000, agnostic: bool = False) -> np.ndarray:
    """One image: boxes ``[N, 4]`` xyxy, scores ``[N, C]`` -> ``[K, 6]`` (x1, y1, x2, y2, score, class)."""
    cls = scores.argmax(-1)
    conf = scores[np.arange(len(scores)), cls]
    keep = conf > conf_thres
    boxes, conf, cls = boxes[keep], conf[keep], cls[keep]
    shifted = boxes.astype(np.float64) + (0.0 if agnostic else cls[:, None] * 7680.0)
    order = np.argsort(-conf, kind="stable")[:max_candidates]
    s = shifted[order]
    area = np.clip(s[:, 2] - s[:, 0], 0, None) * np.clip(s[:, 3] - s[:, 1], 0, None)
    remaining, kept = np.arange(len(order)), []
    while len(remaining) and len(kept) < max_det:
        i, rest = remaining[0], remaining[1:]
        kept.append(i)
        lt = np.maximum(s[i, :2], s[rest, :2])
        rb = np.minimum(s[i, 2:], s[rest, 2:])
        inter = np.clip(rb - lt, 0, None).prod(1)
        iou = inter / (area[i] + area[rest] - inter + 1e-9)
        remaining = rest[iou <= iou_thres]
    idx = order[np.asarray(kept, np.int64)]
    return np.concatenate([boxes[idx], conf[idx, None], cls[idx, None].astype(boxes.dtype)], 1).astype(np.float32)


class Pipeline:
    """Image -> model input -> readable predictions, all driven by an artifact's metadata."""

    def __init__(self, metadata: dict) -> None:
        self.meta = metadata
        self.pre = SimpleNamespace(**metadata["preprocess"])
        self.labels = metadata.get("labels") or []
        self.roles = {o["role"]: o["name"] for o in metadata.get("outputs", []) if "role" in o}

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Geometry]:
        x, geo = preprocess(image, self.pre)
        return x[None], geo

    def _label(self, k: int) -> str:
        return self.labels[k] if k < len(self.labels) else str(k)

    def predictions(self, outputs: dict, geo: Geometry, image_hw: tuple[int, int], top: int = 5) -> list[dict]:
        """One image's outputs (name -> float array with a batch axis of 1) -> a list of predictions."""
        if self.meta["task"] == "detection":
            settings = dict(self.meta.get("detection", {}).get("nms", {}))
            det = nms(outputs[self.roles["boxes"]][0], outputs[self.roles["scores"]][0],
                      settings.get("conf_thres", 0.25), settings.get("iou_thres", 0.45),
                      settings.get("max_det", 300), agnostic=settings.get("class_agnostic", False))
            h, w = image_hw
            boxes = geo.to_image(det[:, :4])
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
            return [{"class": int(c), "label": self._label(int(c)), "score": round(float(s), 5),
                     "box": [round(float(v), 2) for v in b]} for b, s, c in zip(boxes, det[:, 4], det[:, 5])]
        logits = outputs[self.roles.get("logits", next(iter(outputs)))][0]
        return [{"class": k, "label": self._label(k), "score": round(p, 5)} for k, p in top_classes(logits, top)]


# ---------------------------------------------------------------------------------------------------------
# Runtimes: the model's own core call, on arrays already in its input dtype.
# ---------------------------------------------------------------------------------------------------------

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
               "tensor(uint8)": "uint8", "tensor(int8)": "int8", "tensor(uint16)": "uint16", "tensor(int16)": "int16",
               "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(uint32)": "uint32",
               "tensor(uint64)": "uint64", "tensor(bool)": "bool", "tensor(string)": "object"}


def ort_dtype(type_name: str) -> str:
    """onnxruntime's ``tensor(float)`` -> numpy's name; an unknown element type is refused, never guessed."""
    if type_name not in _ORT_DTYPES:
        raise DeviceError(f"inputs/outputs of type {type_name} are not supported")
    return _ORT_DTYPES[type_name]


def ort_shape(shape) -> list | None:
    """Fixed dims as ints, symbolic or unknown dims as None; None for an unknown rank."""
    return None if shape is None else [d if isinstance(d, int) and d >= 0 else None for d in shape]


def _spec(name, shape, dtype, scale=None, zero_point=0) -> dict:
    return {"name": name, "shape": ort_shape(shape),
            "dtype": str(np.dtype(dtype)), "scale": scale, "zero_point": int(zero_point)}


class OnnxModel:
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime as ort

        self.version = ort.__version__
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [_spec(a.name, a.shape, ort_dtype(a.type)) for a in self.session.get_inputs()]
        self.outputs = [_spec(a.name, a.shape, ort_dtype(a.type)) for a in self.session.get_outputs()]

    def infer(self, feeds: dict) -> list:
        return self.session.run(None, feeds)


def litert_interpreter_module():
    """``ai_edge_litert.interpreter``, or ``tflite_runtime.interpreter`` where that is what a device has."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        from tflite_runtime import interpreter
    return interpreter


def litert_spec(name: str, d: dict) -> dict:
    scale, zero_point = d.get("quantization", (0.0, 0))
    shape = [int(s) for s in d.get("shape_signature", d["shape"])]
    return _spec(name, shape, d["dtype"], float(scale) if scale else None, zero_point)


def _unique_names(details: list) -> dict:
    """``name -> detail`` in the interpreter's order; a missing or repeated tensor name gets its index."""
    out = {}
    for d in details:
        name = d.get("name") or f"tensor_{d['index']}"
        out[name if name not in out else f"{name}_{d['index']}"] = d
    return out


def _natural(name: str) -> tuple:
    head = name.rstrip("0123456789")
    return (head, int(name[len(head):]) if name[len(head):] else -1)


class LiteRTModel:
    """I/O named by the file's first SignatureDef, or, for the many files that have none (older converters,
    most models in the wild), by the interpreter's own input/output details; set_tensor/invoke/get_tensor on
    those tensors (no extra layer)."""

    runtime = "litert"

    def __init__(self, path: Path, threads: int | None, xnnpack: bool = True) -> None:
        module = litert_interpreter_module()
        self.version = getattr(module, "__version__", None) or _package_version()
        options = {} if xnnpack else {  # XNNPACK is the default CPU delegate; this leaves builtin kernels only
            "experimental_op_resolver_type": module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
        with _quiet_native_stderr():  # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate" here
            self.interpreter = module.Interpreter(model_path=str(path), num_threads=threads, **options)
            self.interpreter.allocate_tensors()
        signatures = self.interpreter.get_signature_list()
        self.signature = next(iter(signatures), None)
        if self.signature is not None:
            runner = self.interpreter.get_signature_runner(self.signature)
            ins, outs = runner.get_input_details(), runner.get_output_details()
            del runner  # it holds views of the interpreter's buffers, which would block a later resize
            out_names = sorted(outs, key=_natural)
        else:  # no signature: the subgraph's own tensors, named as the converter named them
            ins = _unique_names(self.interpreter.get_input_details())
            outs = _unique_names(self.interpreter.get_output_details())
            out_names = list(outs)
        self.inputs = [litert_spec(n, d) for n, d in ins.items()]
        self.outputs = [litert_spec(n, outs[n]) for n in out_names]
        self._in_index = {n: d["index"] for n, d in ins.items()}
        self._out_index = [outs[o["name"]]["index"] for o in self.outputs]
        self._shapes = {n: tuple(d["shape"]) for n, d in ins.items()}

    def infer(self, feeds: dict) -> list:
        it = self.interpreter
        if any(x.shape != self._shapes[n] for n, x in feeds.items()):  # a dynamic batch changed size
            for n, x in feeds.items():
                it.resize_tensor_input(self._in_index[n], list(x.shape))
            it.allocate_tensors()
            self._shapes = {n: x.shape for n, x in feeds.items()}
        for n, x in feeds.items():
            it.set_tensor(self._in_index[n], x)
        it.invoke()
        return [it.get_tensor(i) for i in self._out_index]


class _quiet_native_stderr:
    """Silence what native code writes to fd 2 (Python exceptions still propagate); EDGECV_VERBOSE=1 keeps it."""

    def __enter__(self):
        self.saved = None
        if os.environ.get("EDGECV_VERBOSE") != "1":
            try:
                sys.stderr.flush()
                self.saved = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            except OSError:
                self.saved = None

    def __exit__(self, *exc):
        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)


def _package_version() -> str | None:
    try:
        from importlib.metadata import version

        for name in ("ai-edge-litert", "tflite-runtime"):
            try:
                return version(name)
            except Exception:
                continue
    except ImportError:
        pass
    return None


def open_model(path: Path, runtime: str | None = None, threads: int | None = None):
    runtime = runtime or {".onnx": "onnxruntime", ".tflite": "litert"}.get(path.suffix)
    if runtime not in ("onnxruntime", "litert"):
        raise DeviceError(f"{path.name}: no runtime for {path.suffix or 'this file'} here (use .onnx or .tflite)")
    cls = OnnxModel if runtime == "onnxruntime" else LiteRTModel
    try:
        return cls(path, threads)
    except ImportError as exc:
        need = "onnxruntime" if runtime == "onnxruntime" else "ai-edge-litert (or tflite-runtime)"
        raise DeviceError(f"{runtime} is not installed here ({exc}); pip install {need}") from None
    except DeviceError:
        raise
    except Exception as exc:
        raise DeviceError(f"{runtime} cannot load {path.name}: {str(exc).strip().splitlines()[0]}") from None


def quantize(x: np.ndarray, spec: dict) -> np.ndarray:
    """Float input -> the model's input dtype (affine int8/uint8 with the file's own scale)."""
    dtype = np.dtype(spec["dtype"])
    if spec["scale"] and np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.round(x / spec["scale"]) + spec["zero_point"], info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def dequantize(y: np.ndarray, spec: dict) -> np.ndarray:
    if spec["scale"] and np.issubdtype(np.dtype(spec["dtype"]), np.integer):
        return ((y.astype(np.float32) - spec["zero_point"]) * spec["scale"]).astype(np.float32)
    return y.astype(np.float32, copy=False)


def run_float(model, x: np.ndarray) -> dict:
    """Single-input model, float in, float out."""
    spec = model.inputs[0]
    outs = model.infer({spec["name"]: quantize(x, spec)})
    return {o["name"]: dequantize(y, o) for o, y in zip(model.outputs, outs)}


def quantization_from_metadata(model, metadata: dict | None) -> None:
    """ONNX reports no quantization of its I/O; an edgecv artifact records it in the metadata."""
    for key in ("inputs", "outputs"):
        recorded = {t["name"]: t.get("quantization") for t in (metadata or {}).get(key, [])}
        for spec in getattr(model, key):
            q = recorded.get(spec["name"])
            if q and spec["scale"] is None:
                spec["scale"], spec["zero_point"] = float(q["scale"]), int(q["zero_point"])


DEFAULT_IMGSZ = 640  # a dynamic height/width with no --imgsz: a size detectors (YOLO, PaddleOCR det) accept
MIN_SPATIAL = 8  # below this a "spatial" dim is almost surely a placeholder, never a real image


def parse_shape(text: str) -> list:
    """``1x3x640x640`` (or ``1,3,640,640``) -> ``[1, 3, 640, 640]``."""
    try:
        dims = [int(d) for d in text.replace(",", "x").lower().split("x")]
    except ValueError:
        raise DeviceError(f"bad shape {text!r}: write it as 1x3x640x640") from None
    if not dims or any(d < 1 for d in dims):
        raise DeviceError(f"bad shape {text!r}: every dimension must be a positive integer")
    return dims


def parse_hw(text) -> tuple:
    """``640`` or ``"640"`` -> ``(640, 640)``; ``"480x640"`` -> ``(480, 640)`` (height x width, at least 8)."""
    try:
        dims = parse_shape(str(text))
    except DeviceError:
        dims = []
    if len(dims) not in (1, 2) or min(dims) < MIN_SPATIAL:
        raise DeviceError(f"--imgsz takes N or HxW with sides of at least {MIN_SPATIAL}, not {text!r}")
    return dims[0], dims[-1]


def parse_input_shapes(items) -> dict:
    """``["images=1x3x640x640"]`` -> ``{"images": [1, 3, 640, 640]}``."""
    shapes = {}
    for item in items:
        name, sep, dims = item.rpartition("=")
        if not sep or not name:
            raise DeviceError(f"--input-shape takes NAME=1x3x640x640, not {item!r}")
        shapes[name] = parse_shape(dims)
    return shapes


def _image_axes(shape: list) -> tuple | None:
    """``(height, width)`` axes of a rank-4 image-like input: NCHW when dim 1 looks like channels, else NHWC."""
    if len(shape) != 4:
        return None
    if shape[1] in (1, 2, 3, 4) or (shape[1] is None and shape[3] not in (1, 2, 3, 4)):
        return 2, 3
    if shape[3] in (1, 2, 3, 4) or shape[3] is None:
        return 1, 2
    return None


def concrete_shapes(specs: list, imgsz=None, batch: int = 1, overrides: dict | None = None) -> tuple:
    """The shape each input is fed at: ``({name: [dims]}, [notes])``.

    ``specs`` are ``{name, shape (None = dynamic, or None for an unknown rank), dtype}``. An override
    (``--input-shape NAME=1x3x640x640``) wins; else a dynamic first dim is ``batch``; the height/width of an
    image-like input are ``imgsz`` (an int or ``(h, w)``) when given, else what the file fixes, else
    ``DEFAULT_IMGSZ`` (said in a note); a dynamic channel dim is 3. Anything still dynamic, or an input
    that cannot be synthesised (strings, unknown rank), raises naming the input."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - {s["name"] for s in specs}
    if unknown:
        raise DeviceError(f"--input-shape names {', '.join(sorted(unknown))}, but the model's inputs are "
                          f"{', '.join(s['name'] for s in specs)}")
    hw = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(imgsz) if imgsz else None
    shapes, notes = {}, []
    for spec in specs:
        name, shape = spec["name"], spec["shape"]
        kind = str(spec.get("dtype"))
        if kind.startswith(("str", "<U", "|S", "object")) or kind in ("string", "bytes"):
            raise DeviceError(f"input {name!r} takes {kind}: edgecv cannot synthesise it")
        if shape is None:
            if name not in overrides:
                raise DeviceError(f"input {name!r} has no known rank: give its shape with --input-shape "
                                  f"{name}=1x3x640x640")
            shape = [None] * len(overrides[name])
        shape = list(shape)
        if name in overrides:
            given = list(overrides[name])
            if len(given) != len(shape) or any(d is not None and d != g for d, g in zip(shape, given)):
                raise DeviceError(f"--input-shape {name}={'x'.join(map(str, given))} does not fit the model's "
                                  f"{format_shape(shape)}")
            shapes[name] = given
            continue
        if shape and shape[0] is None:
            shape[0] = batch
        axes = _image_axes(shape)
        if axes:
            channel = 1 if axes == (2, 3) else 3
            if shape[channel] is None:
                shape[channel] = 3
            fixed = tuple(shape[a] for a in axes)
            if hw and any(f is not None and f != w for f, w in zip(fixed, hw)):
                raise DeviceError(f"input {name!r} is fixed at {format_shape(shape)}: --imgsz "
                                  f"{hw[0]}x{hw[1]} cannot apply")
            if None in fixed:
                size = hw or (DEFAULT_IMGSZ, DEFAULT_IMGSZ)
                for a, s in zip(axes, size):
                    shape[a] = shape[a] if shape[a] is not None else s
                if not hw:
                    notes.append(f"input {name!r} has a dynamic height/width ({format_shape(spec['shape'])}): "
                                 f"timed at {shape[axes[0]]}x{shape[axes[1]]}; choose with --imgsz HxW")
        if None in shape:
            raise DeviceError(f"input {name!r} has dynamic dims {format_shape(spec['shape'])} edgecv cannot "
                              f"choose: give --input-shape {name}=...")
        shapes[name] = shape
    return shapes, notes


def format_shape(shape) -> str:
    return "?" if shape is None else "x".join("?" if d is None else str(d) for d in shape)


def synthetic_array(shape: list, dtype, quantized: bool = False, rng=None) -> np.ndarray:
    """Random input of ``shape``: float32 (quantized inputs are fed float and quantized with the file's scale),
    integers over their image range (uint8 0-255, int8 -128-127), booleans."""
    rng = rng if rng is not None else np.random.default_rng(0)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 1, shape, endpoint=True).astype(np.bool_)
    if np.issubdtype(dtype, np.integer) and not quantized:
        low = -128 if dtype == np.int8 else 0  # ids and indices stay non-negative
        return rng.integers(low, min(np.iinfo(dtype).max, 255), shape, endpoint=True).astype(dtype)
    if np.issubdtype(dtype, np.floating) or quantized:
        return rng.standard_normal(shape).astype(np.float32 if quantized else dtype)
    raise DeviceError(f"cannot synthesise an input of dtype {dtype}")


def synthetic_feeds(model, imgsz=None, batch: int = 1, overrides: dict | None = None) -> tuple:
    """Random inputs for ``model`` at the shapes ``concrete_shapes`` chooses, in the model's own dtypes, and
    its notes."""
    rng = np.random.default_rng(0)
    shapes, notes = concrete_shapes(model.inputs, imgsz, batch, overrides)
    return {s["name"]: synthetic_array(shapes[s["name"]], s["dtype"], rng=rng) for s in model.inputs}, notes


def time_calls(fn, warmup: int, iters: int, min_time_s: float = 0.0) -> list[float]:
    """Milliseconds per call after ``warmup`` untimed calls; at least ``iters`` calls and ``min_time_s``."""
    for _ in range(warmup):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < iters or time.perf_counter() - start < min_time_s:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def cpuinfo() -> dict:
    """``/proc/cpuinfo`` as ``{lower-case key: value}`` (first occurrence; empty where there is none)."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The board (Pi: "Model"), else the CPU's name, else the ARM part number."""
    fields = cpuinfo()
    for key in ("model", "model name", "hardware", "cpu part"):
        value = fields.get(key, "")
        if value and not (key == "model" and value.isdigit()):  # x86 lists "model : 1", a family number
            return value
    return platform.processor() or platform.machine()


def environment(model) -> dict:
    return {"script_version": SCRIPT_VERSION, "python": platform.python_version(), "machine": platform.machine(),
            "cpu": cpu_model(), "cores": os.cpu_count(), "runtime": model.runtime,
            "runtime_version": model.version, "numpy": np.__version__}


# ---------------------------------------------------------------------------------------------------------
# serve: a tiny framed protocol on stdin/stdout so edgecv can drive this script over SSH or under qemu.
#   frame = <u32 header length> <JSON header> then, for each name in header["arrays"], <u64 n> <n bytes .npy>
# ---------------------------------------------------------------------------------------------------------

def write_frame(stream, header: dict, arrays: list | None = None) -> None:
    arrays = arrays or []
    blobs = []
    for a in arrays:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
        blobs.append(buf.getvalue())
    head = json.dumps({**header, "arrays_count": len(blobs)}).encode()
    stream.write(struct.pack("<I", len(head)) + head)
    for blob in blobs:
        stream.write(struct.pack("<Q", len(blob)) + blob)
    stream.flush()


def _read_exact(stream, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream) -> tuple[dict, list]:
    (n,) = struct.unpack("<I", _read_exact(stream, 4))
    header = json.loads(_read_exact(stream, n))
    arrays = []
    for _ in range(header.get("arrays_count", 0)):
        (size,) = struct.unpack("<Q", _read_exact(stream, 8))
        arrays.append(np.load(io.BytesIO(_read_exact(stream, size)), allow_pickle=False))
    return header, arrays


def serve(path: Path, runtime: str | None, threads: int | None) -> int:
    out = os.fdopen(os.dup(1), "wb")  # keep the protocol on the real stdout ...
    os.dup2(2, 1)  # ... and send anything a library prints to stderr
    stdin = sys.stdin.buffer
    try:
        t0 = time.perf_counter()
        model = open_model(path, runtime, threads)
        init_ms = (time.perf_counter() - t0) * 1e3
    except DeviceError as exc:
        write_frame(out, {"ok": False, "error": str(exc)})
        return 1
    write_frame(out, {"ok": True, "inputs": model.inputs, "outputs": model.outputs, "init_ms": init_ms,
                      "environment": environment(model)})
    while True:
        try:
            header, arrays = read_frame(stdin)
        except EOFError:
            return 0
        op = header.get("op")
        try:
            if op == "run":
                feeds = dict(zip(header["names"], arrays))
                t0 = time.perf_counter()
                outs = model.infer(feeds)
                infer_ms = (time.perf_counter() - t0) * 1e3
                write_frame(out, {"ok": True, "infer_ms": infer_ms}, outs)
            elif op == "bench":
                feeds = dict(zip(header["names"], arrays)) if arrays else synthetic_feeds(model)[0]
                times = time_calls(lambda: model.infer(feeds), int(header.get("warmup", 5)),
                                   int(header.get("iters", 20)), float(header.get("min_time_s", 0.0)))
                write_frame(out, {"ok": True, "latency_ms": times})
            elif op == "close":
                write_frame(out, {"ok": True})
                return 0
            else:
                write_frame(out, {"ok": False, "error": f"unknown request {op!r}"})
        except Exception as exc:  # report and keep serving: one bad request must not end the session
            write_frame(out, {"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"})


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------

def _images(args: list[str]) -> list[Path]:
    paths = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            paths += sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
        elif p.is_file():
            paths.append(p)
        else:
            raise DeviceError(f"no such image or folder: {arg}")
    if not paths:
        raise DeviceError("no images found in " + " ".join(args))
    return paths


def match_outputs(metadata: dict | None, names: list) -> dict | None:
    """The metadata with its output names made the file's own: a ``.tflite`` stripped of its SignatureDef
    names tensors as the converter did (``StatefulPartitionedCall:0``), not ``output_0``; outputs are then
    matched by position."""
    recorded = (metadata or {}).get("outputs") or []
    if not recorded or len(recorded) != len(names) or all(o["name"] in names for o in recorded):
        return metadata
    return {**metadata, "outputs": [{**o, "name": n} for o, n in zip(recorded, names)]}


def load_metadata(path: Path) -> dict | None:
    try:
        text = read_metadata_text(path)
    except (ValueError, IndexError, struct.error) as exc:
        raise DeviceError(f"{path.name} is not a readable {path.suffix[1:] or 'model'} file ({exc})") from None
    return json.loads(text) if text else None


def predict(path: Path, images: list[str], runtime: str | None, threads: int | None, top: int) -> dict:
    metadata = load_metadata(path)
    if metadata is None:
        raise DeviceError(f"{path.name} has no edgecv metadata: export it with edgecv to predict from images")
    t0 = time.perf_counter()
    model = open_model(path, runtime, threads)
    init_ms = (time.perf_counter() - t0) * 1e3
    metadata = match_outputs(metadata, [o["name"] for o in model.outputs])
    quantization_from_metadata(model, metadata)
    pipe, results, infer_ms = Pipeline(metadata), [], []
    for image_path in _images(images):
        image = read_image(image_path)
        x, geo = pipe.prepare(image)
        t0 = time.perf_counter()
        outs = run_float(model, x)
        infer_ms.append((time.perf_counter() - t0) * 1e3)
        results.append({"image": str(image_path), "predictions": pipe.predictions(outs, geo, image.shape[:2], top)})
    steady = sorted(infer_ms[1:]) or infer_ms
    timing = {"init_ms": round(init_ms, 3), "first_ms": round(infer_ms[0], 3),
              "p50_ms": round(steady[len(steady) // 2], 3), "images": len(infer_ms)}
    return {"model": metadata.get("model"), "task": metadata["task"], "precision": metadata.get("precision"),
            "results": results, "timing": timing, "environment": environment(model)}


def print_predictions(report: dict) -> None:
    for r in report["results"]:
        print(r["image"])
        for p in r["predictions"] or [{"label": "(nothing detected)", "score": math.nan}]:
            box = " [" + ", ".join(f"{v:.1f}" for v in p["box"]) + "]" if "box" in p else ""
            print(f"  {p['score']:.3f}  {p['label']}{box}")
    t, env = report["timing"], report["environment"]
    print(f"{t['images']} image(s) with {env['runtime']} {env['runtime_version']} on {env['machine']}: "
          f"init {t['init_ms']:.1f} ms, first {t['first_ms']:.2f} ms, median {t['p50_ms']:.2f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgecv_device.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("predict", "info", "bench", "serve"):
        p = sub.add_parser(name)
        p.add_argument("model", type=Path)
        p.add_argument("--runtime", choices=["onnxruntime", "litert"])
        p.add_argument("--threads", type=int)
        if name == "predict":
            p.add_argument("images", nargs="+")
            p.add_argument("--top", type=int, default=5)
        if name == "bench":
            p.add_argument("--warmup", type=int, default=5)
            p.add_argument("--iters", type=int, default=50)
            p.add_argument("--imgsz", help="Height/width of dynamic image inputs: N or HxW (default: 640).")
            p.add_argument("--batch", type=int, default=1, help="A dynamic batch dim (default 1).")
            p.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x640x640")
        if name != "serve":
            p.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        if not args.model.is_file():
            raise DeviceError(f"model file not found: {args.model}")
        if args.command == "serve":
            return serve(args.model, args.runtime, args.threads)
        if args.command == "predict":
            report = predict(args.model, args.images, args.runtime, args.threads, args.top)
            print(json.dumps(report, indent=1)) if args.json else print_predictions(report)
        elif args.command == "info":
            model = open_model(args.model, args.runtime, args.threads)
            quantization_from_metadata(model, load_metadata(args.model))
            info = {"inputs": model.inputs, "outputs": model.outputs, "metadata": load_metadata(args.model),
                    "environment": environment(model)}
            print(json.dumps(info, indent=1))
        else:
            model = open_model(args.model, args.runtime, args.threads)
            imgsz = parse_hw(args.imgsz) if args.imgsz else None
            feeds, notes = synthetic_feeds(model, imgsz, args.batch, parse_input_shapes(args.input_shape))
            for note in notes:
                print(f"edgecv_device: {note}", file=sys.stderr)
            times = sorted(time_calls(lambda: model.infer(feeds), args.warmup, args.iters))
            report = {"latency_ms": {"p50": times[len(times) // 2], "min": times[0], "mean": sum(times) / len(times)},
                      "iters": len(times), "environment": environment(model)}
            print(json.dumps(report, indent=1) if args.json else
                  f"p50 {report['latency_ms']['p50']:.3f} ms over {len(times)} runs ({model.runtime} "
                  f"{model.version}, {platform.machine()})")
    except DeviceError as exc:
        print(f"edgecv_device: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
