"""What every dataset looks like to the rest of edgecv: indexable, with class names and a task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


class Dataset:
    """``ds[i]`` -> ``(image, label)`` for classification, ``(image, boxes, classes)`` for detection.

    Images are ``HxWx3`` (or ``HxWx1``) uint8 RGB; boxes are ``[K, 4]`` float32 xyxy in image pixels.
    """

    task: str
    labels: list[str]
    name: str
    flip_invariant: bool = True  # may training mirror images without changing their labels?

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int):
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class Subset(Dataset):
    """The first ``n`` items of a dataset (``--limit``)."""

    def __init__(self, base: Dataset, n: int) -> None:
        self.base, self.n = base, min(n, len(base))
        self.task, self.labels, self.name = base.task, base.labels, base.name
        self.flip_invariant = base.flip_invariant

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        if not 0 <= index < self.n:
            raise IndexError(index)
        return self.base[index]


class InMemory(Dataset):
    """A dataset whose items were read or rendered once and are kept in memory."""

    def __init__(self, base: Dataset, items: list[tuple]) -> None:
        self.items = items
        self.task, self.labels, self.name = base.task, base.labels, base.name
        self.flip_invariant = base.flip_invariant

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


def read_image(path: Path) -> np.ndarray:
    """An image file as ``HxWx3`` uint8 RGB (greyscale kept as ``HxWx1``), or a DataError naming it."""
    try:
        with Image.open(path) as im:
            im.load()
            im = im.convert("L" if im.mode in ("L", "I", "I;16", "1") else "RGB")
            arr = np.asarray(im)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc
    return arr[:, :, None] if arr.ndim == 2 else arr


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
