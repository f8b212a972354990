"""``shapes``, ``shapes-det`` and ``shapes-seg``: procedurally rendered, deterministic datasets that need no download.

Twelve shape classes on textured backgrounds with clutter, occlusion, scale from small to large,
rotation, colour and lighting jitter and sensor noise. Image ``i`` of a split is a pure function of
(seed, split, i, size), so every machine renders the same pixels. Hard enough that a small network
lands well above chance and clearly below 100%, which keeps an int8 accuracy drop visible.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "triangle", "square", "pentagon", "hexagon", "star", "cross", "ring", "crescent",
           "heart", "arrow", "semicircle")
SPLITS = {"train": (0, 10000), "val": (1, 2000)}  # split -> (seed stream, size)
SUPERSAMPLE = 2


def _unit_polygon(name: str) -> np.ndarray:
    """Outline of each class in unit coordinates (radius about 1), before rotation."""
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    if name == "circle":
        return np.stack([np.cos(t), np.sin(t)], 1)
    if name in ("triangle", "square", "pentagon", "hexagon"):
        k = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}[name]
        a = np.arange(k) * 2 * np.pi / k - np.pi / 2
        return np.stack([np.cos(a), np.sin(a)], 1)
    if name == "star":
        a = np.arange(10) * np.pi / 5 - np.pi / 2
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)
    if name == "cross":
        w = 0.33
        return np.array([(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w),
                         (-1, -w), (-w, -w)], float)
    if name == "crescent":
        outer = np.stack([np.cos(t[:33] * 2 - np.pi / 2 + np.pi), np.sin(t[:33] * 2 - np.pi / 2 + np.pi)], 1)
        inner = outer[::-1] * [0.55, 1.0] + [-0.1, 0.0]
        return np.concatenate([outer, inner])
    if name == "heart":
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x, y], 1) / 16.5
    if name == "arrow":
        return np.array([(-1, -0.25), (0.2, -0.25), (0.2, -0.65), (1, 0), (0.2, 0.65), (0.2, 0.25), (-1, 0.25)], float)
    if name == "semicircle":
        h = np.linspace(0, np.pi, 33)
        return np.stack([np.cos(h), -np.sin(h) + 0.4], 1)
    raise ValueError(name)


_POLYGONS = {name: _unit_polygon(name) for name in CLASSES if name != "ring"}


def _colour(rng: np.random.Generator, avoid: np.ndarray | None = None, contrast: int = 220) -> tuple[int, int, int]:
    """A random colour at least ``contrast`` (L1 over RGB) away from ``avoid``."""
    best, best_d = rng.integers(0, 256, 3), -1.0
    for _ in range(30):
        c = rng.integers(0, 256, 3)
        d = np.inf if avoid is None else np.abs(c - avoid).sum()
        if d > best_d:
            best, best_d = c, d
        if d >= contrast:
            break
    return tuple(int(v) for v in best)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    kind = rng.integers(4)
    c1 = rng.integers(0, 256, 3).astype(np.float32)
    c2 = np.clip(c1 + rng.integers(-90, 91, 3), 0, 255).astype(np.float32)  # textured, not camouflage
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == 0:  # linear gradient
        a = rng.uniform(0, 2 * np.pi)
        w = (np.cos(a) * xx + np.sin(a) * yy)
        w = (w - w.min()) / (np.ptp(w) + 1e-6)
    elif kind == 1:  # stripes
        a, f = rng.uniform(0, np.pi), rng.uniform(3, 12)
        w = 0.5 + 0.5 * np.sin(2 * np.pi * f * (np.cos(a) * xx + np.sin(a) * yy))
    elif kind == 2:  # checkerboard
        n = rng.integers(3, 10)
        w = ((np.floor(xx * n) + np.floor(yy * n)) % 2).astype(np.float32)
    else:  # blotches: low-resolution noise, upsampled
        n = int(rng.integers(3, 8))
        low = Image.fromarray((rng.random((n, n)) * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
        w = np.asarray(low, np.float32) / 255
    return (c1 * (1 - w[..., None]) + c2 * w[..., None]).clip(0, 255)


def _draw_shape(draw: ImageDraw.ImageDraw, name: str, cx: float, cy: float, r: float, angle: float, fill) -> None:
    if name == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fill, width=max(2, int(r * 0.35)))
        return
    pts = _POLYGONS[name]
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    xy = pts @ rot.T * r + [cx, cy]
    draw.polygon([tuple(p) for p in xy], fill=fill)


def _clutter(rng: np.random.Generator, draw: ImageDraw.ImageDraw, size: int, count: int, max_frac: float) -> None:
    for _ in range(count):
        c = _colour(rng)
        if rng.random() < 0.5:
            x0, y0, x1, y1 = rng.uniform(0, size, 4)
            draw.line([x0, y0, x1, y1], fill=c, width=int(rng.integers(1, max(2, size // 40) + 1)))
        else:
            r = rng.uniform(0.02, max_frac) * size
            x, y = rng.uniform(0, size, 2)
            draw.ellipse([x - r, y - r * rng.uniform(0.3, 1), x + r, y + r * rng.uniform(0.3, 1)], fill=c)


def _finish(rng: np.random.Generator, canvas: np.ndarray) -> np.ndarray:
    """Lighting (gain, colour cast, gamma), sensor noise, back to uint8."""
    x = canvas / 255.0
    x = x ** rng.uniform(0.7, 1.4)
    x = x * rng.uniform(0.65, 1.3) * rng.uniform(0.85, 1.15, 3) + rng.uniform(-0.08, 0.08)
    x = x * 255 + rng.normal(0, rng.uniform(0, 8), x.shape)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _rng(seed: int, split: str, index: int, *stream: int) -> np.random.Generator:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    return np.random.default_rng([seed, SPLITS[split][0], index, *stream])


def render_classification(seed: int, split: str, index: int, size: int) -> tuple[np.ndarray, int]:
    rng = _rng(seed, split, index)
    label = int(rng.integers(len(CLASSES)))
    big = size * SUPERSAMPLE
    bg = _background(rng, big)
    img = Image.fromarray(bg.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    _clutter(rng, draw, big, int(rng.integers(0, 5)), 0.07)
    r = rng.uniform(0.2, 0.45) * big
    cx, cy = rng.uniform(r * 0.8, big - r * 0.8, 2)
    _draw_shape(draw, CLASSES[label], cx, cy, r, rng.uniform(0, 2 * np.pi), _colour(rng, bg[int(cy), int(cx)]))
    if rng.random() < 0.3:  # occluders
        _clutter(rng, draw, big, int(rng.integers(1, 3)), 0.1)
    small = np.asarray(img.reduce(SUPERSAMPLE), np.float32)
    return _finish(rng, small), label


def _scene(rng: np.random.Generator, big: int, radius: tuple[float, float], count: tuple[int, int]
           ) -> tuple[Image.Image, np.ndarray, list[int], list[int]]:
    """Shapes over a textured, cluttered background at the supersampled size: the image, which object each
    pixel shows (``owner``, -1 for background), each object's class and its full (unoccluded) area."""
    bg = _background(rng, big)
    img = Image.fromarray(bg.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    _clutter(rng, draw, big, int(rng.integers(0, 6)), 0.06)
    owner = np.full((big, big), -1, np.int16)
    classes, full_area = [], []
    for k in range(int(rng.integers(*count))):
        label = int(rng.integers(len(CLASSES)))
        r = rng.uniform(*radius) * big
        cx, cy = rng.uniform(r * 0.5, big - r * 0.5, 2)
        angle, colour = rng.uniform(0, 2 * np.pi), _colour(rng, bg[int(cy), int(cx)])
        mask = Image.new("L", (big, big), 0)
        _draw_shape(ImageDraw.Draw(mask), CLASSES[label], cx, cy, r, angle, 255)
        m = np.asarray(mask) > 127
        _draw_shape(draw, CLASSES[label], cx, cy, r, angle, colour)
        owner[m] = k
        classes.append(label)
        full_area.append(int(m.sum()))
    return img, owner, classes, full_area


def render_detection(seed: int, split: str, index: int, size: int, min_visible: float = 0.4
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image, boxes ``[K, 4]`` xyxy pixels (of the visible part) and classes ``[K]``."""
    rng = _rng(seed, split, index)
    big = size * SUPERSAMPLE
    img, owner, classes, full_area = _scene(rng, big, (0.03, 0.25), (1, 7))
    boxes, kept = [], []
    for k, label in enumerate(classes):
        ys, xs = np.nonzero(owner == k)
        if full_area[k] == 0 or len(xs) < min_visible * full_area[k]:
            continue  # mostly hidden behind later objects: not a fair target
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        kept.append(label)
    small = np.asarray(img.reduce(SUPERSAMPLE), np.float32)
    box_arr = np.asarray(boxes, np.float32).reshape(-1, 4) / SUPERSAMPLE
    return _finish(rng, small), box_arr, np.asarray(kept, np.int64)


SEGMENTATION_STREAM = 7  # shapes-seg draws from its own stream: its scenes are not shapes-det's images


def render_segmentation(seed: int, split: str, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image and its class map ``[H, W]`` uint8: 0 background, ``1 + class`` for each shape's visible pixels,
    255 (ignored, as Pascal VOC marks object borders) where a pixel is split between a shape and what lies
    under it in the supersampled render."""
    rng = _rng(seed, split, index, SEGMENTATION_STREAM)
    big = size * SUPERSAMPLE
    img, owner, classes, _ = _scene(rng, big, (0.06, 0.3), (1, 6))
    lookup = np.asarray([0] + [c + 1 for c in classes], np.uint8)
    fine = lookup[owner + 1].reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).transpose(0, 2, 1, 3).reshape(size, size, -1)
    mask = np.where((fine == fine[..., :1]).all(-1), fine[..., 0], 255).astype(np.uint8)
    small = np.asarray(img.reduce(SUPERSAMPLE), np.float32)
    return _finish(rng, small), mask
