"""Box decoding and non-maximum suppression for the YOLO head, as plain tensor functions.

``decode`` and ``fast_nms`` use only fixed-shape tensor ops, so ``heads.DetectionExport`` can bake them into an
ONNX/TFLite graph. ``nms`` is the exact greedy algorithm used for evaluation on the host.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def make_anchors(shapes: Sequence[tuple[int, int]], strides: Sequence[int], dtype: torch.dtype,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres ``[N, 2]`` (in grid units) and the stride of each cell ``[N, 1]``, level by level."""
    points, stride_col = [], []
    for (h, w), s in zip(shapes, strides):
        ys = torch.arange(h, dtype=dtype, device=device) + 0.5
        xs = torch.arange(w, dtype=dtype, device=device) + 0.5
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((gx, gy), -1).reshape(-1, 2))
        stride_col.append(torch.full((h * w, 1), float(s), dtype=dtype, device=device))
    return torch.cat(points), torch.cat(stride_col)


def flatten_maps(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-level maps ``[B, C, H, W]`` -> one ``[B, N, C]`` tensor, N = sum of H*W."""
    return torch.cat([m.flatten(2) for m in maps], 2).transpose(1, 2)


def dfl_distances(box_logits: torch.Tensor, reg_max: int) -> torch.Tensor:
    """Expected distance per side from ``reg_max`` bins (distribution focal loss): ``[..., 4*reg_max] -> [..., 4]``."""
    probs = box_logits.unflatten(-1, (4, reg_max)).softmax(-1)
    bins = torch.arange(reg_max, dtype=probs.dtype, device=probs.device)
    return (probs * bins).sum(-1)


def decode(maps: Sequence[torch.Tensor], reg_max: int, strides: Sequence[int] = (8, 16, 32)
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw head maps -> boxes ``[B, N, 4]`` (x1, y1, x2, y2 in input pixels) and class scores ``[B, N, C]``."""
    flat = flatten_maps(maps)
    points, stride = make_anchors([m.shape[-2:] for m in maps], strides, flat.dtype, flat.device)
    dist = dfl_distances(flat[..., : 4 * reg_max], reg_max)
    lt, rb = dist[..., :2], dist[..., 2:]
    boxes = torch.cat((points - lt, points + rb), -1) * stride
    return boxes, flat[..., 4 * reg_max:].sigmoid()


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of ``[..., N, 4]`` and ``[..., M, 4]`` xyxy boxes -> ``[..., N, M]``."""
    lt = torch.maximum(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a[..., :, None] + area_b[..., None, :] - inter + 1e-9)


def _candidates(boxes: torch.Tensor, scores: torch.Tensor, conf_thres: float, agnostic: bool, max_wh: float,
                multi_label: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best class per box (or, ``multi_label``, every class above the threshold: one candidate per box and
    class), filtered by confidence; boxes shifted per class so classes never overlap."""
    if multi_label:
        box, cls = (scores > conf_thres).nonzero(as_tuple=True)
        boxes, conf = boxes[box], scores[box, cls]
    else:
        conf, cls = scores.max(-1)
        keep = conf > conf_thres
        boxes, conf, cls = boxes[keep], conf[keep], cls[keep]
    offset = torch.zeros_like(boxes) if agnostic else cls[:, None].to(boxes.dtype) * max_wh
    return boxes, conf, cls, boxes + offset


def nms(boxes: torch.Tensor, scores: torch.Tensor, conf_thres: float = 0.25, iou_thres: float = 0.45,
        max_det: int = 300, max_candidates: int = 3000, agnostic: bool = False,
        multi_label: bool = False) -> list[torch.Tensor]:
    """Greedy per-class NMS. Returns one ``[K, 6]`` tensor per image: x1, y1, x2, y2, score, class.

    Each round keeps the best remaining box and drops the rest that overlap it, so the work grows with
    the number of boxes kept, not with candidates squared. ``multi_label`` lets a box stand for every class
    scoring above ``conf_thres`` (the mAP protocol of the YOLO family's ``val``); predictions keep one class.
    """
    out = []
    for b in range(boxes.shape[0]):
        bx, conf, cls, shifted = _candidates(boxes[b], scores[b], conf_thres, agnostic, max_wh=7680.0,
                                             multi_label=multi_label)
        order = conf.argsort(descending=True)[:max_candidates]
        s = shifted[order].double()
        area = (s[:, 2] - s[:, 0]).clamp(min=0) * (s[:, 3] - s[:, 1]).clamp(min=0)
        remaining = torch.arange(len(order))
        kept: list[int] = []
        while len(remaining) and len(kept) < max_det:
            i, rest = remaining[0], remaining[1:]
            kept.append(int(i))
            lt = torch.maximum(s[i, :2], s[rest, :2])
            rb = torch.minimum(s[i, 2:], s[rest, 2:])
            inter = (rb - lt).clamp(min=0).prod(1)
            iou = inter / (area[i] + area[rest] - inter + 1e-9)
            remaining = rest[iou <= iou_thres]
        idx = order[torch.tensor(kept, dtype=torch.long)]
        out.append(torch.cat((bx[idx], conf[idx, None], cls[idx, None].to(bx.dtype)), 1))
    return out


def fast_nms(boxes: torch.Tensor, scores: torch.Tensor, conf_thres: float = 0.25, iou_thres: float = 0.45,
             max_det: int = 100, agnostic: bool = False) -> torch.Tensor:
    """Fixed-shape NMS for inside a graph: ``[B, max_det, 6]``, unused rows zero.

    Matrix ("Fast") NMS: the ``max_det`` best boxes are kept unless a higher-scoring box of the same class
    overlaps them above ``iou_thres``. Unlike greedy NMS a box suppressed by an already-suppressed box is
    also dropped, so it can keep slightly fewer boxes; it needs no loop, which is what makes it exportable.
    """
    conf, cls = scores.max(-1)  # [B, N]
    k = min(max_det, conf.shape[1])
    top_conf, top_idx = conf.topk(k, dim=1)  # sorted, descending
    top_cls = cls.gather(1, top_idx).to(boxes.dtype)
    top_boxes = boxes.gather(1, top_idx[..., None].expand(-1, -1, 4))
    shifted = top_boxes if agnostic else top_boxes + top_cls[..., None] * 7680.0
    iou = box_iou(shifted, shifted).triu(diagonal=1)  # iou[i, j] with i scoring higher than j
    keep = (iou.amax(1) <= iou_thres) & (top_conf > conf_thres)
    det = torch.cat((top_boxes, top_conf[..., None], top_cls[..., None]), -1)
    det = det * keep[..., None].to(det.dtype)
    if k < max_det:
        det = nn.functional.pad(det, (0, 0, 0, max_det - k))
    return det
