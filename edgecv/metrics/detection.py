"""Detection mAP by a maintained COCO evaluator (faster-coco-eval, a drop-in for pycocotools' COCOeval)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np

from .._optional import import_optional


def coco_ground_truth(targets: Sequence[tuple[np.ndarray, np.ndarray]], sizes: Sequence[tuple[int, int]],
                      num_classes: int) -> dict:
    """Ground truth as a COCO dict: ``targets[i] = (boxes xyxy [K,4], classes [K])``, ``sizes[i] = (h, w)``."""
    images, anns = [], []
    for i, ((boxes, classes), (h, w)) in enumerate(zip(targets, sizes)):
        images.append({"id": i, "width": int(w), "height": int(h)})
        for box, cls in zip(np.asarray(boxes, float), np.asarray(classes)):
            bw, bh = box[2] - box[0], box[3] - box[1]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(cls), "iscrowd": 0,
                         "bbox": [float(box[0]), float(box[1]), float(bw), float(bh)], "area": float(bw * bh)})
    return {"images": images, "annotations": anns,
            "categories": [{"id": c, "name": str(c)} for c in range(num_classes)]}


def coco_detections(detections: Sequence[np.ndarray]) -> list[dict]:
    """``detections[i]`` is ``[K, 6]``: x1, y1, x2, y2, score, class (in image pixels)."""
    out = []
    for i, det in enumerate(detections):
        for x1, y1, x2, y2, score, cls in np.asarray(det, float).reshape(-1, 6):
            out.append({"image_id": i, "category_id": int(cls), "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "score": float(score)})
    return out


def coco_map(targets: Sequence[tuple[np.ndarray, np.ndarray]], detections: Sequence[np.ndarray],
             sizes: Sequence[tuple[int, int]], num_classes: int) -> dict[str, float]:
    """COCO mAP50-95 and mAP50 in percent (101-point interpolation, maxDets 100, all areas)."""
    fce = import_optional("faster_coco_eval", extra=None, package="faster-coco-eval")
    gt = fce.COCO(coco_ground_truth(targets, sizes, num_classes))
    dets = coco_detections(detections)
    if not dets or not gt.dataset["annotations"]:
        return {"map50_95": 0.0, "map50": 0.0}
    evaluator = fce.COCOeval_faster(gt, gt.loadRes(dets), iouType="bbox")
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {"map50_95": 100.0 * float(evaluator.stats[0]), "map50": 100.0 * float(evaluator.stats[1])}
