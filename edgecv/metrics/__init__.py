"""Accuracy metrics: top-k for classification, COCO mAP for detection, mean IoU for segmentation, and which one
is a model's headline."""

from ..tasks import TASKS
from .classification import topk_accuracy
from .detection import coco_map
from .segmentation import ConfusionMatrix, segmentation_scores

ACCURACY_KEYS = tuple(k for facts in TASKS.values() for k in facts.accuracy)  # every accuracy figure edgecv reports
HEADLINE = {task: facts.headline for task, facts in TASKS.items()}  # the one figure per task that decides
NAMES = {"top1": "top-1", "top5": "top-5", "map50_95": "mAP50-95", "map50": "mAP50", "miou": "mIoU",
         "pixel_acc": "pixel acc"}  # how each figure is written for people


def headline_of(scores: dict) -> tuple[str, float] | None:
    """The deciding figure among ``scores`` (whichever task's headline it holds), or None."""
    return next(((k, scores[k]) for k in HEADLINE.values() if scores.get(k) is not None), None)


__all__ = ["ACCURACY_KEYS", "HEADLINE", "NAMES", "ConfusionMatrix", "coco_map", "headline_of", "segmentation_scores",
           "topk_accuracy"]
