"""Datasets: the built-in ``shapes``, ``shapes-det``, ``shapes-seg`` and ``digits``, and a user's own data by path."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .base import Dataset, Subset

BUILTIN = ("shapes", "shapes-det", "shapes-seg", "digits")


def get_dataset(spec: str | Path, split: str = "val", imgsz: int | None = None, limit: int | None = None,
                seed: int = 0) -> Dataset:
    """Open ``spec`` (a built-in name, an ImageFolder root, Pascal VOC segmentation folders, a ``data.yaml`` or a
    COCO ``.json``).

    ``imgsz`` sets the render size of the synthetic datasets; files are read at their own size and
    resized by the model's preprocessing.
    """
    if split not in ("train", "val"):
        raise DataError(f"unknown split {split!r}; use train or val")
    ds = _open(str(spec), split, imgsz, seed)
    if len(ds) == 0:
        raise DataError(f"the {split} split of {spec} is empty")
    return Subset(ds, limit) if limit is not None else ds


def _open(spec: str, split: str, imgsz: int | None, seed: int) -> Dataset:
    from .builtin import DEFAULT_SIZES, Digits, Shapes, ShapesDet, ShapesSeg

    if spec == "shapes":
        return Shapes(split, imgsz or DEFAULT_SIZES["shapes"], seed)
    if spec == "shapes-det":
        return ShapesDet(split, imgsz or DEFAULT_SIZES["shapes-det"], seed)
    if spec == "shapes-seg":
        return ShapesSeg(split, imgsz or DEFAULT_SIZES["shapes-seg"], seed)
    if spec == "digits":
        return Digits(split)
    path = Path(spec)
    if not path.exists():
        raise DataError(f"no dataset {spec!r}: not a built-in ({', '.join(BUILTIN)}) and no such path")
    if path.is_dir():
        from .voc import VOCSegmentation, is_voc

        if is_voc(path):
            return VOCSegmentation(path, split)
        from .folders import ImageFolder

        return ImageFolder(path, split)
    if path.suffix in (".yaml", ".yml"):
        from .yolo_format import open_data_yaml

        return open_data_yaml(path, split)
    if path.suffix == ".json":
        if split != "val":
            raise DataError(f"{path} is a single COCO file: use it for evaluation, or a data.yaml naming train and val")
        from .coco import CocoDetection

        return CocoDetection(path)
    raise DataError(f"cannot tell what dataset {spec} is: expected a folder, a data.yaml or a COCO .json")


__all__ = ["BUILTIN", "Dataset", "DataError", "get_dataset"]
