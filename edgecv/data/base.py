"""What every dataset looks like to the rest of edgecv: indexable, with class names and a task."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ..portable import image as portable_image
from ..portable.errors import DeviceError

IMAGE_SUFFIXES = portable_image.IMAGE_SUFFIXES  # one list, the device's


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
    """An image file as ``HxWx3`` uint8 RGB (greyscale kept as ``HxWx1``), or a DataError naming it.

    The device script's reader, so host and board decode alike (16-bit images scaled to 8 bits, a
    decompression bomb refused)."""
    try:
        return portable_image.read_image(Path(path))
    except DeviceError as exc:
        raise DataError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc.strerror or exc}") from None


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
