"""Image files to ``HxWxC`` uint8 arrays: Pillow when installed, else PNG, PPM/PGM and ``.npy`` decoded here.
Both paths refuse a decompression bomb at the same pixel limit."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np

from .errors import DeviceError

MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb limit, kept by the reader without Pillow too


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".npy"}


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
            elif im.mode == "F":  # float grey (TIFF): 0-1 is scaled to 0-255, a 0-255 image kept; never black
                wide = np.asarray(im, np.float64)
                if not np.isfinite(wide).all():
                    raise ValueError("a float image with NaN or infinite pixels")
                scale = 255.0 if wide.size and wide.max() <= 1.0 else 1.0
                arr = np.clip(np.rint(wide * scale), 0, 255).astype(np.uint8)
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
    raise DeviceError(f"cannot read image {path}: without Pillow only PNG, PPM/PGM and .npy are readable "
                      "(pip install pillow reads JPEG and the rest)")


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


def natural_key(path: Path) -> list:
    """Sort key that puts ``frame2`` before ``frame10`` (numbers compared as numbers): frames named 1, 2, ... 10
    without zero padding must be tracked in their real order, not as strings (1, 10, 11, ..., 2)."""
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def list_images(args: list[str]) -> list[Path]:
    paths = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            paths += sorted((q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file()), key=natural_key)
        elif p.is_file():
            paths.append(p)
        else:
            raise DeviceError(f"no such image or folder: {arg}")
    if not paths:
        raise DeviceError("no images found in " + " ".join(args))
    return paths
