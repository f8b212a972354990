"""What a model's ``forward`` returns, turned into the outputs edgecv scores, exports and serves.

A classifier returns logits, used as they are; a segmentation model returns torchvision's ``{"out": …}`` and
its ``decode_head`` picks the per-pixel logits. A detector owns the decoding of its head: it defines
``decode_head(raw) -> (boxes [B, N, 4] xyxy in input pixels, scores [B, N, C])``. Everything else -- the
PyTorch predictor, the torch runtime, the exported graph -- calls ``decoded`` and never names a family, so a
second detector family is one new model file with its own ``decode_head``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .yolo_ops import fast_nms


def decoded(net: nn.Module, raw: Any) -> Any:
    """``net``'s raw output as logits, or as ``(boxes, scores)`` for a detector."""
    hook = getattr(net, "decode_head", None)
    return hook(raw) if callable(hook) else raw


class DecodedExport(nn.Module):
    """Wrap a model whose ``forward`` returns more than the graph should (a segmentation model's
    ``{"out", "aux"}``) so the exported graph ends in ``decode_head``'s tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.decode_head(self.model(x))


class DetectionExport(nn.Module):
    """Wrap a detector so its graph ends in decoded boxes (and optionally NMS) instead of raw maps.

    Outputs: ``decode only`` -> ``boxes [B, N, 4]`` and ``scores [B, N, C]``;
    ``nms=True`` -> ``detections [B, max_det, 6]`` (x1, y1, x2, y2, score, class; padding rows are zero).
    """

    def __init__(self, model: nn.Module, nms: bool = False, conf_thres: float = 0.25, iou_thres: float = 0.45,
                 max_det: int = 100) -> None:
        super().__init__()
        if not callable(getattr(model, "decode_head", None)):
            raise TypeError(f"{type(model).__name__} has no decode_head(raw) -> (boxes, scores)")
        self.model, self.nms = model, nms
        self.conf_thres, self.iou_thres, self.max_det = conf_thres, iou_thres, max_det

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        boxes, scores = self.model.decode_head(self.model(x))
        if not self.nms:
            return boxes, scores
        return fast_nms(boxes, scores, self.conf_thres, self.iou_thres, self.max_det)


def graph_module(net: nn.Module, task: str) -> nn.Module:
    """The module an exporter traces: detectors end in decoded boxes and scores (NMS runs on the host, with
    the settings recorded in the artifact's metadata); other models in what their ``decode_head`` returns."""
    if task == "detection":
        return DetectionExport(net).eval()
    return DecodedExport(net).eval() if callable(getattr(net, "decode_head", None)) else net



__all__ = ["DecodedExport", "DetectionExport", "decoded", "graph_module"]
