"""``shapes-track``: rendered sequences of moving shapes with ground-truth identities, for ``edgecv track``.

Each sequence is a static scene (``shapes``' textured background and clutter) with 3 to 8 shapes of the twelve
``shapes`` classes moving at constant velocity, bouncing off the borders, spinning, several aimed across the
centre so that they cross, pass in front of each other (a fixed depth order) and hide each other. A shape is
ground truth in a frame when at least 40% of it is visible there (as in ``shapes-det``), boxed by its visible
part, with its identity (1, 2, ...) for the whole sequence. Sequence ``i`` of a split is a pure function of
(seed, split, i, size, frames): every machine renders the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from . import shapes

SEQUENCES = {"val": (3, 8), "train": (4, 32)}  # split -> (seed stream, number of sequences)
FRAMES, SIZE, MIN_VISIBLE = 60, 128, 0.4


@dataclass
class Frame:
    image: np.ndarray  # HxWx3 uint8
    ids: np.ndarray  # [K] int64, from 1
    boxes: np.ndarray  # [K, 4] xyxy pixels of the visible part
    classes: np.ndarray  # [K] int64


def render_sequence(seed: int, split: str, index: int, size: int = SIZE, frames: int = FRAMES) -> list[Frame]:
    if split not in SEQUENCES:
        raise ValueError(f"unknown split {split!r} (shapes-track has {', '.join(SEQUENCES)})")
    stream = SEQUENCES[split][0]
    rng = np.random.default_rng([seed, stream, index])
    big = size * shapes.SUPERSAMPLE
    bg = shapes._background(rng, big)
    scene = Image.fromarray(bg.astype(np.uint8))
    shapes._clutter(rng, ImageDraw.Draw(scene), big, int(rng.integers(0, 5)), 0.05)
    n = int(rng.integers(3, 9))
    labels = rng.integers(len(shapes.CLASSES), size=n)
    radius = rng.uniform(0.06, 0.14, n) * big
    pos = rng.uniform(0.15 * big, 0.85 * big, (n, 2))
    towards = np.arctan2(big / 2 - pos[:, 1], big / 2 - pos[:, 0]) + rng.uniform(-0.6, 0.6, n)
    heading = np.where(rng.random(n) < 0.6, towards, rng.uniform(0, 2 * np.pi, n))  # most cross the centre
    speed = rng.uniform(0.008, 0.025, n) * big
    vel = np.stack([np.cos(heading), np.sin(heading)], 1) * speed[:, None]
    angle, spin = rng.uniform(0, 2 * np.pi, n), rng.uniform(-0.08, 0.08, n)
    colours = [shapes._colour(rng, bg[int(min(max(p[1], 0), big - 1)), int(min(max(p[0], 0), big - 1))]) for p in pos]
    look = int(rng.integers(2**31))  # lighting and sensor noise: one camera for the whole sequence
    out = []
    for _ in range(frames):
        img = scene.copy()
        draw = ImageDraw.Draw(img)
        owner = np.full((big, big), -1, np.int16)
        area = np.zeros(n)
        for k in range(n):  # drawn in a fixed depth order: later shapes pass in front
            mask = Image.new("L", (big, big), 0)
            shapes._draw_shape(ImageDraw.Draw(mask), shapes.CLASSES[labels[k]], *pos[k], radius[k], angle[k], 255)
            m = np.asarray(mask) > 127
            shapes._draw_shape(draw, shapes.CLASSES[labels[k]], *pos[k], radius[k], angle[k], colours[k])
            owner[m], area[k] = k, m.sum()
        ids, boxes, classes = [], [], []
        for k in range(n):
            ys, xs = np.nonzero(owner == k)
            if area[k] == 0 or len(xs) < MIN_VISIBLE * area[k]:
                continue
            ids.append(k + 1)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            classes.append(int(labels[k]))
        small = np.asarray(img.reduce(shapes.SUPERSAMPLE), np.float32)
        out.append(Frame(shapes._finish(np.random.default_rng(look), small), np.asarray(ids, np.int64),
                         np.asarray(boxes, np.float32).reshape(-1, 4) / shapes.SUPERSAMPLE,
                         np.asarray(classes, np.int64)))
        pos += vel
        for axis in (0, 1):  # bounce off the borders (the centre stays inside the frame)
            low, high = pos[:, axis] < 0, pos[:, axis] > big
            vel[low | high, axis] *= -1
            pos[:, axis] = np.clip(pos[:, axis], 0, big)
        angle += spin
    return out


class ShapesTrack:
    """The sequences of a split; ``seq[i]`` renders sequence ``i`` (a list of ``Frame``)."""

    task, name, labels = "tracking", "shapes-track", list(shapes.CLASSES)

    def __init__(self, split: str = "val", size: int = SIZE, frames: int = FRAMES, seed: int = 0) -> None:
        if split not in SEQUENCES:
            raise ValueError(f"unknown split {split!r} (shapes-track has {', '.join(SEQUENCES)})")
        self.split, self.size, self.frames, self.seed = split, size, frames, seed

    def __len__(self) -> int:
        return SEQUENCES[self.split][1]

    def __getitem__(self, index: int) -> list[Frame]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return render_sequence(self.seed, self.split, index, self.size, self.frames)


__all__ = ["FRAMES", "Frame", "SEQUENCES", "SIZE", "ShapesTrack", "render_sequence"]
