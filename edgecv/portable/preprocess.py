"""The preprocessing contract (``edgecv.preprocess.Preprocess``) in numpy: colour order, resize / centre crop /
letterbox with Pillow's antialiased filters, normalisation and layout; ``Geometry`` maps boxes back."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


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

    def mask_to_image(self, mask: np.ndarray, image_hw: tuple[int, int], fill: int = 255) -> np.ndarray:
        """A class map in network-input pixels -> the original image's pixels (nearest sample at each pixel's
        centre); pixels the network never saw (cropped away) get ``fill``."""
        return _resample(mask, image_hw, self.scale_x, self.scale_y, self.pad_x, self.pad_y, fill)

    def mask_to_input(self, mask: np.ndarray, input_hw: tuple[int, int], fill: int = 255) -> np.ndarray:
        """An image's class map -> network-input pixels (training targets); letterbox padding gets ``fill``."""
        sx, sy = 1 / self.scale_x, 1 / self.scale_y
        return _resample(mask, input_hw, sx, sy, -self.pad_x * sx, -self.pad_y * sy, fill)

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        out = np.asarray(boxes, np.float32).copy()
        out[..., 0::2] = out[..., 0::2] * self.scale_x + self.pad_x
        out[..., 1::2] = out[..., 1::2] * self.scale_y + self.pad_y
        return out


def _resample(mask: np.ndarray, out_hw: tuple[int, int], scale_x: float, scale_y: float, off_x: float, off_y: float,
              fill: int) -> np.ndarray:
    """Nearest-neighbour warp: output pixel ``(x, y)`` takes ``mask`` at ``(x + .5) * scale + off``."""
    h, w = out_hw
    xs = np.floor((np.arange(w) + 0.5) * scale_x + off_x).astype(np.int64)
    ys = np.floor((np.arange(h) + 0.5) * scale_y + off_y).astype(np.int64)
    inside = ((ys >= 0) & (ys < mask.shape[0]))[:, None] & ((xs >= 0) & (xs < mask.shape[1]))[None]
    out = mask[ys.clip(0, mask.shape[0] - 1)[:, None], xs.clip(0, mask.shape[1] - 1)[None]]
    return np.where(inside, out, fill).astype(mask.dtype)


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
