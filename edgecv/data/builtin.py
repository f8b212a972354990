"""The datasets that ship with edgecv: ``shapes``, ``shapes-det``, ``shapes-seg`` (rendered) and ``digits``
(scikit-learn)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .._optional import import_optional
from . import shapes
from .base import Dataset

DEFAULT_SIZES = {"shapes": 64, "shapes-det": 128, "shapes-seg": 128, "digits": 8}


class Shapes(Dataset):
    task = "classification"

    def __init__(self, split: str, size: int = 64, seed: int = 0) -> None:
        self.split, self.size, self.seed = split, size, seed
        self.labels, self.name = list(shapes.CLASSES), "shapes"
        self._len = shapes.SPLITS[split][1]

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        if not 0 <= index < self._len:
            raise IndexError(index)
        return shapes.render_classification(self.seed, self.split, index, self.size)


class ShapesDet(Dataset):
    task = "detection"

    def __init__(self, split: str, size: int = 128, seed: int = 0) -> None:
        self.split, self.size, self.seed = split, size, seed
        self.labels, self.name = list(shapes.CLASSES), "shapes-det"
        self._len = shapes.SPLITS[split][1] // 2  # several objects per image

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not 0 <= index < self._len:
            raise IndexError(index)
        return shapes.render_detection(self.seed, self.split, index, self.size)


class ShapesSeg(Dataset):
    """``(image, class map)``: class 0 is background, ``1 + k`` the shape class ``k``, 255 ignored (pixels
    split between a shape and its background when rendered)."""

    task = "segmentation"

    def __init__(self, split: str, size: int = 128, seed: int = 0) -> None:
        self.split, self.size, self.seed = split, size, seed
        self.labels, self.name = ["background", *shapes.CLASSES], "shapes-seg"
        self._len = shapes.SPLITS[split][1] // 4  # several shapes and thousands of labelled pixels per image

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self._len:
            raise IndexError(index)
        return shapes.render_segmentation(self.seed, self.split, index, self.size)


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    datasets = import_optional("sklearn.datasets", extra=None, package="scikit-learn")
    d = datasets.load_digits()  # 1,797 real 8x8 handwritten digits bundled with scikit-learn
    images = np.round(d.images * (255 / 16)).astype(np.uint8)[..., None]
    order = np.random.default_rng(0).permutation(len(images))  # one fixed shuffle: 80% train, 20% val
    return images, d.target.astype(np.int64), order


class Digits(Dataset):
    task = "classification"
    flip_invariant = False  # a mirrored 2 is not a 2

    def __init__(self, split: str) -> None:
        images, targets, order = _digits()
        cut = int(0.8 * len(order))
        idx = order[:cut] if split == "train" else order[cut:]
        self.images, self.targets = images[idx], targets[idx]
        self.labels, self.name = [str(i) for i in range(10)], "digits"

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], int(self.targets[index])
