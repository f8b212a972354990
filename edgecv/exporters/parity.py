"""Does the artifact behave like the PyTorch model? Measured on real validation images, judged per precision.

Measuring (``compare``) is separate from judging (``judge``), so a caller can report the numbers even when
it does not enforce them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The worst an artifact of each precision may do against PyTorch fp32 and still "behave the same".
TOLERANCES: dict[str, dict[str, float]] = {
    "fp32": {"cosine": 0.9999, "top1_agreement": 99.0, "box_iou": 0.98, "mask_agreement": 99.5},
    "fp16": {"cosine": 0.999, "top1_agreement": 97.0, "box_iou": 0.95, "mask_agreement": 99.0},
    "int8": {"cosine": 0.98, "top1_agreement": 90.0, "box_iou": 0.80, "mask_agreement": 95.0},
    "int8-dynamic": {"cosine": 0.98, "top1_agreement": 90.0, "box_iou": 0.80, "mask_agreement": 95.0},
}
JUDGED = {"classification": ("cosine", "top1_agreement"), "detection": ("box_iou",),
          "segmentation": ("mask_agreement",)}
_NMS = dict(conf_thres=0.25, iou_thres=0.45, max_det=300)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return np.where((na == 0) & (nb == 0), 1.0, (a * b).sum(1) / np.maximum(na * nb, 1e-30))


def compare(reference: Any, output: Any, task: str) -> dict[str, float]:
    """Numbers describing how far ``output`` is from ``reference`` (same images, same order)."""
    return COMPARE[task](reference, output)


def compare_logits(reference: Any, output: Any) -> dict[str, float]:
    """Classifier logits ``[N, C]``: their cosine and how often the top class is the same."""
    ref, out = np.asarray(reference, np.float32), np.asarray(output, np.float32)
    return {"images": len(ref), "max_abs_error": float(np.abs(ref - out).max()),
            "cosine": float(_cosine(ref, out).mean()), "cosine_min": float(_cosine(ref, out).min()),
            "top1_agreement": float(100.0 * (ref.argmax(1) == out.argmax(1)).mean())}


def compare_boxes(reference: Any, output: Any) -> dict[str, float]:
    """A detector's ``(boxes, scores)``: score cosine and the matched IoU of the detections after NMS."""
    (ref_boxes, ref_scores), (boxes, scores) = reference, output
    return {"images": len(ref_boxes),
            "max_abs_error": float(max(np.abs(ref_boxes - boxes).max(), np.abs(ref_scores - scores).max())),
            "score_max_abs_error": float(np.abs(ref_scores - scores).max()),
            "cosine": float(_cosine(ref_scores, scores).mean()),
            "box_iou": matched_box_iou(ref_boxes, ref_scores, boxes, scores)}


def compare_masks(reference: Any, output: Any) -> dict[str, float]:
    """Per-pixel logits ``[N, C, H, W]``: the share of pixels whose class is the same (``mask_agreement``),
    the mIoU of the artifact's masks taking PyTorch's as the truth (``miou_vs_reference``), and the logits'
    cosine per image."""
    from ..metrics.segmentation import ConfusionMatrix

    ref, out = np.asarray(reference, np.float32), np.asarray(output, np.float32)
    ref_masks, masks = ref.argmax(1), out.argmax(1)
    matrix = ConfusionMatrix(ref.shape[1])
    matrix.update(ref_masks, masks)
    return {"images": len(ref), "max_abs_error": float(np.abs(ref - out).max()),
            "cosine": float(_cosine(ref, out).mean()), "mask_agreement": float(100.0 * (ref_masks == masks).mean()),
            "miou_vs_reference": matrix.scores()["miou"]}


def matched_box_iou(ref_boxes, ref_scores, boxes, scores) -> float:
    """Mean over the reference's detections (after NMS) of the IoU with the artifact's best detection of the
    same class; a reference detection with no counterpart counts 0, and extra artifact detections lower it
    through the same matching run the other way. 1.0 means identical detections."""
    import torch

    from ..models.yolo_ops import box_iou, nms

    ref = nms(torch.from_numpy(ref_boxes).float(), torch.from_numpy(ref_scores).float(), **_NMS)
    got = nms(torch.from_numpy(boxes).float(), torch.from_numpy(scores).float(), **_NMS)
    total, count = 0.0, 0
    for a, b in zip(ref, got):
        for x, y in ((a, b), (b, a)):
            if len(x) == 0:
                continue
            count += len(x)
            if len(y) == 0:
                continue
            iou = box_iou(x[:, :4], y[:, :4]) * (x[:, None, 5] == y[None, :, 5])
            total += float(iou.max(1).values.sum())
    return total / count if count else 1.0


COMPARE = {"classification": compare_logits, "detection": compare_boxes, "segmentation": compare_masks}


def judge(metrics: dict[str, float], precision: str, task: str) -> list[str]:
    """The tolerances ``metrics`` breaks, as readable phrases (empty when the artifact passes)."""
    tol = TOLERANCES.get(precision, TOLERANCES["int8"])
    return [f"{k} {metrics[k]:.4g} < {tol[k]:g}" for k in JUDGED[task] if metrics[k] < tol[k]]
