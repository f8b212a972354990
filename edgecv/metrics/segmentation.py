"""Semantic segmentation: a confusion matrix over labelled pixels, mean IoU and pixel accuracy.

The definitions of torchvision's segmentation reference (``ConfusionMatrix``) and the VOC devkit: pixels
labelled 255 are ignored; IoU of class ``c`` is ``TP / (TP + FP + FN)`` over all images at once (not per
image); mean IoU averages the classes that appear in the ground truth or the predictions, background
included. A prediction of 255 (a pixel the network never saw, e.g. cropped away) counts against the true
class and for none.
"""

from __future__ import annotations

import numpy as np

from ..portable.segmentation import IGNORE


class ConfusionMatrix:
    def __init__(self, num_classes: int) -> None:
        self.n = num_classes
        self.mat = np.zeros((num_classes, num_classes + 1), np.int64)  # rows: truth; last column: no prediction

    def update(self, target: np.ndarray, pred: np.ndarray) -> None:
        target, pred = np.asarray(target).ravel(), np.asarray(pred).ravel()
        if target.shape != pred.shape:
            raise ValueError(f"prediction has {pred.size} pixels but the mask has {target.size}")
        keep = target != IGNORE
        t, p = target[keep].astype(np.int64), pred[keep].astype(np.int64)
        p = np.where(p < self.n, p, self.n)
        self.mat += np.bincount(t * (self.n + 1) + p, minlength=self.n * (self.n + 1)).reshape(self.n, self.n + 1)

    def iou(self) -> np.ndarray:
        """Per-class IoU; NaN for a class neither in the truth nor in the predictions."""
        tp = np.diag(self.mat[:, : self.n]).astype(np.float64)
        union = self.mat.sum(1) + self.mat[:, : self.n].sum(0) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / np.maximum(union, 1), np.nan)

    def scores(self) -> dict[str, float]:
        labelled = self.mat.sum()
        iou = self.iou()
        return {"miou": 100.0 * float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0,
                "pixel_acc": 100.0 * float(np.trace(self.mat[:, : self.n]) / labelled) if labelled else 0.0}


def segmentation_scores(targets, predictions, num_classes: int) -> dict[str, float]:
    """mIoU and pixel accuracy (percent) of class maps against ground-truth maps, pixel for pixel."""
    cm = ConfusionMatrix(num_classes)
    for t, p in zip(targets, predictions):
        cm.update(t, p)
    return cm.scores()
