"""Detection data described by an Ultralytics-style ``data.yaml``: YOLO txt labels or COCO JSON.

    path: /data/mine          # root; relative entries below resolve against it (default: the yaml's folder)
    train: images/train       # a folder of images (labels in the parallel labels/ folder) or a COCO .json
    val: images/val
    names: [cat, dog]         # or {0: cat, 1: dog}; for COCO JSON the categories are used

YOLO label files: ``labels/<same path>/<stem>.txt`` with one ``class cx cy w h`` line per object,
coordinates normalised to 0-1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._optional import import_optional
from ..errors import DataError
from .base import Dataset, list_images, read_image
from .coco import CocoDetection
from .labels import check_box

TOLERANCE = 1e-3  # rounding slack for normalised coordinates written with few decimals


DATA_YAML_MAX_BYTES = 16 * 2**20
MAX_NAME_CHARS = 1000


def read_data_yaml(path: Path) -> dict:
    from ..resources import read_limited

    yaml = import_optional("yaml", extra=None, package="pyyaml")
    text = read_limited(path, "data file", DATA_YAML_MAX_BYTES)  # a regular file of bounded size
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # its messages span lines: keep the problem and where it is
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        raise DataError(f"{path} is not valid YAML: {problem}{where}") from None
    if not isinstance(spec, dict):
        raise DataError(f"{path} is not a mapping with train/val/names")
    return spec


def _name(value, path: Path) -> str:
    """A class name is a string or a number: a nested list or mapping (a YAML alias bomb expands to gigabytes
    when printed) is refused."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or len(str(value)) > MAX_NAME_CHARS:
        raise DataError(f"{path}: each class name must be a string of at most {MAX_NAME_CHARS} characters, not a "
                        f"{type(value).__name__}")
    return str(value)


def _names(spec: dict, path: Path) -> list[str]:
    names = spec.get("names")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: names keys must be class indices") from exc
        if keys != list(range(len(keys))):
            raise DataError(f"{path}: names must be numbered 0..{len(keys) - 1} without gaps")
        return [_name(names[k], path) for k in keys]
    if isinstance(names, list) and names:
        return [_name(n, path) for n in names]
    raise DataError(f"{path}: 'names' must list the class names")


def open_data_yaml(path: Path, split: str) -> Dataset:
    spec = read_data_yaml(path)
    root = path.parent  # relative entries resolve against the yaml's folder ...
    if spec.get("path"):  # ... or against its path:, itself relative to that folder when not absolute
        if not isinstance(spec["path"], str):
            raise DataError(f"{path}: path must be a folder name")
        root = root / Path(spec["path"]).expanduser()
    entry = spec.get(split)
    if not entry:
        raise DataError(f"{path} has no '{split}' entry")
    target = root / str(entry)
    if target.suffix == ".json":
        images = spec.get(f"{split}_images")
        return CocoDetection(target, image_root=root / images if images else root)
    return YoloDetection(target, _names(spec, path))


def _label_path(image: Path) -> Path:
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):  # the last "images" component becomes "labels"
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


class YoloDetection(Dataset):
    task = "detection"

    def __init__(self, images_dir: Path, names: list[str]) -> None:
        if not images_dir.is_dir():
            raise DataError(f"image folder not found: {images_dir}")
        self.labels, self.name = names, images_dir.parent.parent.name or images_dir.name
        self.images = list_images(images_dir)
        if not self.images:
            raise DataError(f"{images_dir} holds no images")
        self.targets = [self._read_labels(_label_path(p)) for p in self.images]

    def _read_labels(self, path: Path) -> np.ndarray:
        if not path.is_file():
            return np.zeros((0, 5), np.float32)  # an image without a label file has no objects
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                cls, cx, cy, w, h = (float(v) for v in line.split()[:5])
                if len(line.split()) < 5:
                    raise ValueError
            except ValueError as exc:
                raise DataError(f"{path}:{n}: expected 'class cx cy w h', got {line.strip()!r}") from exc
            x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
            cls = check_box(f"{path}:{n}", cls, x1, y1, x2, y2, len(self.labels), tolerance=TOLERANCE,
                            shown=" ".join(line.split()[1:5]))
            rows.append((cls, x1, y1, x2, y2))
        return np.asarray(rows, np.float32).reshape(-1, 5)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        image = read_image(self.images[index])
        h, w = image.shape[:2]
        t = self.targets[index]
        boxes = (np.clip(t[:, 1:], 0, 1) * [w, h, w, h]).astype(np.float32)
        return image, boxes, t[:, 0].astype(np.int64)
