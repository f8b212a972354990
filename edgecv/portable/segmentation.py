"""Segmentation outputs to class maps, and class maps to VOC-style palette PNGs (numpy + zlib only).

A palette PNG is what Pascal VOC ships its masks as: any viewer shows the colours, and a reader that asks for
the pixel values (Pillow's mode "P") gets the class indices back, so ``edgecv predict``'s masks can be
read as ground truth by ``edgecv eval`` on VOC folders.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .preprocess import Geometry

IGNORE = 255  # the class value of a pixel nobody labels or scores (VOC's object borders): the one definition


def voc_palette(n: int = 256) -> np.ndarray:
    """VOC's colour map ``[n, 3]`` uint8: class ``c``'s colour from the bits of ``c`` (the devkit's rule);
    class 0 (background) is black, 255 (ignore) a pale cream."""
    palette = np.zeros((n, 3), np.uint8)
    for c in range(n):
        r = g = b = 0
        value = c
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[c] = (r, g, b)
    return palette


def class_map(logits: np.ndarray, geo: Geometry, image_hw: tuple[int, int]) -> np.ndarray:
    """One image's per-pixel logits ``[C, h, w]`` (network-input pixels) -> its class map ``[H, W]`` uint8 at
    the image's own size; pixels the network never saw are 255."""
    return geo.mask_to_image(np.asarray(logits).argmax(0).astype(np.uint8), image_hw, fill=IGNORE)


def class_shares(mask: np.ndarray, labels: list[str], top: int) -> list[dict]:
    """The ``top`` classes covering most of the image: ``{"class", "label", "score"}`` with score the share
    of the image's pixels."""
    counts = np.bincount(mask.ravel(), minlength=256)[: max(len(labels), 1)]
    order = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0][:top]
    return [{"class": c, "label": labels[c] if c < len(labels) else str(c),
             "score": round(float(counts[c]) / mask.size, 5)} for c in order]


def png_bytes(mask: np.ndarray, palette: np.ndarray | None = None) -> bytes:
    """``mask [H, W]`` uint8 as an 8-bit palette PNG."""
    mask = np.ascontiguousarray(mask, np.uint8)
    h, w = mask.shape
    palette = voc_palette() if palette is None else np.asarray(palette, np.uint8)
    rows = np.concatenate([np.zeros((h, 1), np.uint8), mask], axis=1)  # filter type 0 (none) before each row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
            + chunk(b"PLTE", palette[:256].tobytes()) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + chunk(b"IEND", b""))


def write_mask_png(path: Path, mask: np.ndarray) -> Path:
    """Write the palette PNG through a temporary file and a rename (no half-written mask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(png_bytes(mask))
    os.replace(tmp, path)
    return path


def mask_names(paths: list[Path]) -> list[str]:
    """``<stem>.png`` per image; images that share a stem (from different folders) get ``-2``, ``-3``…"""
    seen: dict[str, int] = {}
    names = []
    for p in paths:
        seen[p.stem] = seen.get(p.stem, 0) + 1
        names.append(p.stem + (f"-{seen[p.stem]}" if seen[p.stem] > 1 else "") + ".png")
    return names
