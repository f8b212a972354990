"""COCO JSON detection annotations (``images``, ``annotations`` with xywh ``bbox``, ``categories``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import Dataset, read_image
from .labels import check_box


class CocoDetection(Dataset):
    """Category ids are mapped to contiguous class indices in id order; crowd annotations are skipped."""

    task = "detection"

    def __init__(self, annotations: Path, image_root: Path | None = None) -> None:
        try:
            doc = json.loads(Path(annotations).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read COCO annotations {annotations}: {exc}") from None
        missing = [k for k in ("images", "categories") if not isinstance(doc, dict) or not isinstance(doc.get(k), list)]
        if missing:
            raise DataError(f"{annotations} is not COCO annotations: it has no "
                            f"{' or '.join(repr(k) for k in missing)} list")
        images, anns, cats = doc["images"], doc.get("annotations") or [], doc["categories"]
        try:
            self._index(annotations, image_root, images, anns, cats)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{annotations}: an image, annotation or category lacks a valid "
                            f"{exc.args[0] if isinstance(exc, KeyError) else 'value'} ({type(exc).__name__}: {exc})"
                            ) from None

    def _index(self, annotations: Path, image_root: Path | None, images: list, anns: list, cats: list) -> None:
        if not images:
            raise DataError(f"{annotations} lists no images")
        self.name = Path(annotations).stem
        self.root = Path(image_root) if image_root else Path(annotations).parent
        cats = sorted(cats, key=lambda c: c["id"])
        self.category_ids = [int(c["id"]) for c in cats]
        self.labels = [str(c["name"]) for c in cats]
        index_of = {cid: i for i, cid in enumerate(self.category_ids)}
        self.images = [(int(im["id"]), str(im["file_name"]), int(im["width"]), int(im["height"])) for im in images]
        per_image: dict[int, list[tuple[int, float, float, float, float]]] = {im[0]: [] for im in self.images}
        sizes = {im[0]: (im[2], im[3]) for im in self.images}
        for ann in anns:
            if ann.get("iscrowd"):
                continue
            image_id, cid = int(ann["image_id"]), int(ann["category_id"])
            if cid not in index_of:
                raise DataError(f"{annotations}: annotation {ann.get('id')} has unknown category_id {cid}")
            if image_id not in per_image:
                raise DataError(f"{annotations}: annotation {ann.get('id')} refers to unknown image_id {image_id}")
            x, y, w, h = (float(v) for v in ann["bbox"])
            iw, ih = sizes[image_id]
            check_box(f"{annotations}: annotation {ann.get('id')}", index_of[cid], x, y, x + w, y + h,
                      len(self.labels), iw, ih, tolerance=1.0, shown=str([x, y, w, h]))
            per_image[image_id].append((index_of[cid], x, y, x + w, y + h))
        self.targets = [np.asarray(per_image[im[0]], np.float32).reshape(-1, 5) for im in self.images]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        image = read_image(self.root / self.images[index][1])
        t = self.targets[index]
        return image, t[:, 1:].copy(), t[:, 0].astype(np.int64)
