"""A user's classification data as an ImageFolder tree: ``DIR/train/<class>/*``, ``DIR/val/<class>/*``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import Dataset, list_images, read_image


def _classes(split_dir: Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


class ImageFolder(Dataset):
    task = "classification"

    def __init__(self, root: Path, split: str) -> None:
        root = Path(root)
        split_dir = root / split
        if not split_dir.is_dir():
            raise DataError(f"{root} has no {split}/ folder (expected {root}/{split}/<class>/<image>)")
        self.labels, self.name = _classes(split_dir), root.name
        others = [s for s in ("train", "val") if s != split and (root / s).is_dir()]
        for other in others:
            theirs = _classes(root / other)
            if theirs != self.labels:
                only_here = sorted(set(self.labels) - set(theirs))
                only_there = sorted(set(theirs) - set(self.labels))
                raise DataError(
                    f"class folders differ between {root / split} and {root / other}: "
                    f"only in {split}: {only_here or '-'}; only in {other}: {only_there or '-'}"
                )
        if not self.labels:
            raise DataError(f"{split_dir} has no class folders")
        self.items: list[tuple[Path, int]] = []
        for label, cls in enumerate(self.labels):
            self.items += [(p, label) for p in list_images(split_dir / cls)]
        if not self.items:
            raise DataError(f"{split_dir} holds no images (looked for .jpg, .png, .bmp, .webp, .tif, .gif)")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        path, label = self.items[index]
        return read_image(path), label
