"""The one validator for detection labels from outside files (YOLO txt, COCO JSON): every value finite, the
class a whole number in range, the box inside its image. A bad label is named by file and line (or
annotation id), never passed on to training, where a NaN turns into a NaN loss and NaN weights."""

from __future__ import annotations

import math

from ..errors import DataError


def check_box(where: str, cls: float, x1: float, y1: float, x2: float, y2: float, num_classes: int,
              width: float = 1.0, height: float = 1.0, tolerance: float = 0.0, shown: str | None = None) -> int:
    """The class index of a valid ``xyxy`` box in a ``width`` x ``height`` image; else a DataError at ``where``.
    ``shown`` is the box as the file wrote it, for the message."""
    values = (cls, x1, y1, x2, y2)
    shown = shown or " ".join(f"{v:g}" for v in (x1, y1, x2, y2))
    if not all(math.isfinite(v) for v in values):
        raise DataError(f"{where}: a value is not a finite number (class {cls:g}, box {shown})")
    if cls != int(cls):
        raise DataError(f"{where}: class {cls!r} is not a whole class index (0..{num_classes - 1})")
    if not 0 <= cls < num_classes:
        raise DataError(f"{where}: class {cls:g} out of range 0..{num_classes - 1}")
    if x2 <= x1 or y2 <= y1 or min(x1, y1) < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
        image = "the image (coordinates are 0-1)" if (width, height) == (1.0, 1.0) else f"its {width:g}x{height:g} image"
        raise DataError(f"{where}: box {shown} is empty or lies outside {image}")
    return int(cls)
