"""Accuracy metrics: top-k for classification, COCO mAP for detection, mean IoU for segmentation, and which one
is a model's headline."""

from .classification import topk_accuracy
from .detection import coco_map
from .segmentation import ConfusionMatrix, segmentation_scores

ACCURACY_KEYS = ("top1", "top5", "map50_95", "map50", "miou", "pixel_acc")  # every accuracy figure edgecv reports
HEADLINE = {"classification": "top1", "detection": "map50_95", "segmentation": "miou"}  # the figure that decides
NAMES = {"top1": "top-1", "top5": "top-5", "map50_95": "mAP50-95", "map50": "mAP50", "miou": "mIoU",
         "pixel_acc": "pixel acc"}  # how each figure is written for people


def headline_of(scores: dict) -> tuple[str, float] | None:
    """The deciding figure among ``scores`` (whichever task's headline it holds), or None."""
    return next(((k, scores[k]) for k in HEADLINE.values() if scores.get(k) is not None), None)


__all__ = ["ACCURACY_KEYS", "HEADLINE", "NAMES", "ConfusionMatrix", "coco_map", "headline_of", "segmentation_scores",
           "topk_accuracy"]
