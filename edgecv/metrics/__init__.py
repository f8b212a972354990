"""Accuracy metrics: top-k for classification, COCO mAP for detection, and which one is a model's headline."""

from .classification import topk_accuracy
from .detection import coco_map

ACCURACY_KEYS = ("top1", "top5", "map50_95", "map50")  # every accuracy figure edgecv reports
HEADLINE = {"classification": "top1", "detection": "map50_95"}  # the one figure per task that decides


__all__ = ["ACCURACY_KEYS", "HEADLINE", "coco_map", "topk_accuracy"]
