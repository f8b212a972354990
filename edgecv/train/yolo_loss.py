"""The YOLO training loss: task-aligned assignment, BCE for classes, CIoU + distribution focal loss for boxes.

This follows the anchor-free recipe of TOOD (Feng et al., 2021) and Generalized Focal Loss (Li et al.,
2020) as popularised by YOLOv8: each ground-truth box takes the ``topk`` cells whose centre lies inside
it and whose predicted class score^alpha x IoU^beta is highest; their soft targets are that alignment.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..models.yolo_ops import box_iou, dfl_distances, flatten_maps, make_anchors


def ciou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU of matching rows of two ``[N, 4]`` xyxy tensors."""
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = a.unbind(-1), b.unbind(-1)
    aw, ah, bw, bh = ax2 - ax1, ay2 - ay1 + eps, bx2 - bx1, by2 - by1 + eps
    inter = (torch.min(ax2, bx2) - torch.max(ax1, bx1)).clamp(0) * (torch.min(ay2, by2) - torch.max(ay1, by1)).clamp(0)
    union = aw * ah + bw * bh - inter + eps
    iou = inter / union
    cw, ch = torch.max(ax2, bx2) - torch.min(ax1, bx1), torch.max(ay2, by2) - torch.min(ay1, by1)
    c2 = cw ** 2 + ch ** 2 + eps
    rho2 = ((bx1 + bx2 - ax1 - ax2) ** 2 + (by1 + by2 - ay1 - ay2) ** 2) / 4
    v = (4 / math.pi ** 2) * (torch.atan(bw / bh) - torch.atan(aw / ah)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


class TaskAlignedAssigner:
    def __init__(self, num_classes: int, topk: int = 10, alpha: float = 0.5, beta: float = 6.0) -> None:
        self.num_classes, self.topk, self.alpha, self.beta = num_classes, topk, alpha, beta

    @torch.no_grad()
    def __call__(self, scores: torch.Tensor, boxes: torch.Tensor, points: torch.Tensor, gt_labels: torch.Tensor,
                 gt_boxes: torch.Tensor, gt_mask: torch.Tensor):
        """scores ``[B,N,C]`` (sigmoid), boxes ``[B,N,4]``, points ``[N,2]`` (same units as boxes),
        gt_labels ``[B,M]``, gt_boxes ``[B,M,4]``, gt_mask ``[B,M]`` -> target boxes, scores and fg mask."""
        b, n, _ = scores.shape
        m = gt_boxes.shape[1]
        if m == 0:
            return boxes.new_zeros(b, n, 4), scores.new_zeros(scores.shape), torch.zeros(b, n, dtype=torch.bool)
        lt = points[None, None] - gt_boxes[:, :, None, :2]
        rb = gt_boxes[:, :, None, 2:] - points[None, None]
        inside = torch.cat((lt, rb), -1).amin(-1) > 1e-9  # [B,M,N]
        valid = inside & gt_mask[:, :, None]
        overlaps = box_iou(gt_boxes, boxes).clamp(0) * valid  # [B,M,N]
        cls_scores = scores.gather(2, gt_labels[:, None, :].expand(-1, n, -1).clamp(0)).transpose(1, 2)  # [B,M,N]
        align = cls_scores.pow(self.alpha) * overlaps.pow(self.beta) * valid
        top = align.topk(min(self.topk, n), dim=-1).indices
        in_topk = torch.zeros_like(valid).scatter_(-1, top, True)
        pos = in_topk & valid  # [B,M,N]
        # A cell claimed by several boxes keeps the one it overlaps most.
        multi = pos.sum(1, keepdim=True) > 1
        best = F.one_hot(overlaps.argmax(1), m).permute(0, 2, 1).bool()
        pos = torch.where(multi, best, pos) & valid
        fg = pos.any(1)  # [B,N]
        gt_idx = pos.float().argmax(1)  # [B,N]
        t_boxes = gt_boxes.gather(1, gt_idx[..., None].expand(-1, -1, 4))
        t_labels = gt_labels.gather(1, gt_idx)
        t_scores = F.one_hot(t_labels.clamp(0), self.num_classes).float() * fg[..., None]
        align = align * pos
        norm = (align * (overlaps * pos).amax(-1, keepdim=True) / (align.amax(-1, keepdim=True) + 1e-9)).amax(1)
        return t_boxes, t_scores * norm[..., None], fg


class YoloLoss(nn.Module):
    """Sum of box (CIoU), class (BCE) and DFL terms with YOLOv8's gains (7.5, 0.5, 1.5)."""

    def __init__(self, num_classes: int, reg_max: int = 16, strides=(8, 16, 32),
                 gains: tuple[float, float, float] = (7.5, 0.5, 1.5)) -> None:
        super().__init__()
        self.num_classes, self.reg_max, self.strides, self.gains = num_classes, reg_max, strides, gains
        self.assigner = TaskAlignedAssigner(num_classes)

    def forward(self, maps: list[torch.Tensor], gt_labels: torch.Tensor, gt_boxes: torch.Tensor,
                gt_mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """``gt_boxes`` xyxy in input pixels, padded to ``M`` per image with ``gt_mask`` marking real ones."""
        flat = flatten_maps(maps)
        dist_logits, cls_logits = flat[..., : 4 * self.reg_max], flat[..., 4 * self.reg_max:]
        points, stride = make_anchors([m.shape[-2:] for m in maps], self.strides, flat.dtype, flat.device)
        dist = dfl_distances(dist_logits, self.reg_max)
        pred_boxes = torch.cat((points - dist[..., :2], points + dist[..., 2:]), -1)  # grid units
        t_boxes, t_scores, fg = self.assigner(cls_logits.detach().sigmoid(), (pred_boxes.detach() * stride),
                                              points * stride, gt_labels, gt_boxes, gt_mask)
        score_sum = t_scores.sum().clamp(min=1.0)
        loss_cls = F.binary_cross_entropy_with_logits(cls_logits, t_scores, reduction="sum") / score_sum
        loss_box = loss_dfl = flat.new_zeros(())  # no positives in this batch
        if fg.any():
            t_grid = t_boxes / stride
            weight = t_scores.sum(-1)[fg]
            loss_box = ((1.0 - ciou(pred_boxes[fg], t_grid[fg])) * weight).sum() / score_sum
            pts = points.expand(fg.shape[0], -1, -1)[fg]
            target = torch.cat((pts - t_grid[fg][:, :2], t_grid[fg][:, 2:] - pts), -1).clamp(0, self.reg_max - 1.01)
            left = target.floor().long()
            w_left = left + 1 - target
            logits = dist_logits[fg].view(-1, self.reg_max)
            ce_l = F.cross_entropy(logits, left.view(-1), reduction="none").view(-1, 4)
            ce_r = F.cross_entropy(logits, (left + 1).view(-1), reduction="none").view(-1, 4)
            loss_dfl = ((ce_l * w_left + ce_r * (1 - w_left)).mean(-1) * weight).sum() / score_sum
        gb, gc, gd = self.gains
        total = gb * loss_box + gc * loss_cls + gd * loss_dfl
        return total, {"box": loss_box.item(), "cls": loss_cls.item(), "dfl": loss_dfl.item()}
