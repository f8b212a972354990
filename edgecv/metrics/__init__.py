"""Accuracy metrics: top-k for classification, COCO mAP for detection."""

from .classification import topk_accuracy
from .detection import coco_map

__all__ = ["coco_map", "topk_accuracy"]
