"""Box decoding and NMS: hand-made cases with known answers, and the in-graph export path."""

from __future__ import annotations

import pytest
import torch

import edgecv
from edgecv.models.heads import DetectionExport
from edgecv.models.yolo_ops import box_iou, decode, fast_nms, nms

REG_MAX, NC = 16, 3


def _maps(size: int = 64) -> list[torch.Tensor]:
    """Head maps that predict nothing (very low class logits, zero-distance boxes) everywhere."""
    maps = []
    for s in (8, 16, 32):
        m = torch.full((1, 4 * REG_MAX + NC, size // s, size // s), -20.0)
        m[:, 0 : 4 * REG_MAX : REG_MAX] = 20.0  # bin 0 of every side -> distance 0
        maps.append(m)
    return maps


def test_decode_puts_a_box_where_the_logits_say():
    maps = _maps()
    # stride-16 level, cell (row 1, col 2): centre (2.5, 1.5) cells; distances l,t,r,b = 1, 2, 3, 4 cells; class 2.
    cell = maps[1][0, :, 1, 2]
    cell[: 4 * REG_MAX] = -20.0
    for side, dist in enumerate((1, 2, 3, 4)):
        cell[side * REG_MAX + dist] = 20.0
    cell[4 * REG_MAX + 2] = 10.0
    boxes, scores = decode(maps, REG_MAX)
    assert boxes.shape == (1, 64 + 16 + 4, 4) and scores.shape == (1, 84, NC)
    best = scores[0].max(-1).values.argmax()
    assert best == 64 + 1 * 4 + 2  # level offset + row * width + col
    expected = torch.tensor([(2.5 - 1) * 16, (1.5 - 2) * 16, (2.5 + 3) * 16, (1.5 + 4) * 16])
    assert torch.allclose(boxes[0, best], expected, atol=1e-3)
    assert scores[0, best].argmax() == 2 and scores[0, best, 2] > 0.99


def test_decode_expected_value_between_bins():
    maps = _maps()
    cell = maps[2][0, :, 0, 0]
    cell[:REG_MAX] = -20.0
    cell[3], cell[4] = 5.0, 5.0  # equal mass on bins 3 and 4 -> left distance 3.5 cells
    boxes, _ = decode(maps, REG_MAX)
    assert boxes[0, 64 + 16, 0].item() == pytest.approx((0.5 - 3.5) * 32, abs=1e-3)


def _scored(rows: list[tuple[float, float, float, float, float, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    boxes = torch.tensor([r[:4] for r in rows]).unsqueeze(0)
    scores = torch.zeros(1, len(rows), NC)
    for i, r in enumerate(rows):
        scores[0, i, r[5]] = r[4]
    return boxes, scores


def test_greedy_nms_per_class_threshold_and_agnostic():
    boxes, scores = _scored([
        (0, 0, 10, 10, 0.9, 0),
        (1, 1, 11, 11, 0.8, 0),  # IoU 0.68 with the first: suppressed
        (20, 20, 30, 30, 0.7, 0),
        (0, 0, 10, 10, 0.6, 1),  # same place, other class: kept unless agnostic
        (40, 40, 50, 50, 0.1, 2),  # under the confidence threshold
    ])
    det = nms(boxes, scores, conf_thres=0.25, iou_thres=0.5)[0]
    assert det[:, 4].tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert det[:, 5].tolist() == [0, 0, 1]
    assert torch.equal(det[0, :4], torch.tensor([0.0, 0, 10, 10]))
    agnostic = nms(boxes, scores, conf_thres=0.25, iou_thres=0.5, agnostic=True)[0]
    assert agnostic[:, 4].tolist() == pytest.approx([0.9, 0.7])
    assert len(nms(boxes, scores, conf_thres=0.25, iou_thres=0.5, max_det=1)[0]) == 1


def test_greedy_and_fast_nms_differ_only_on_chains():
    # A overlaps B, B overlaps C, A does not overlap C: greedy keeps A and C; matrix NMS keeps A only.
    boxes, scores = _scored([(0, 0, 10, 10, 0.9, 0), (4, 0, 14, 10, 0.8, 0), (8, 0, 18, 10, 0.7, 0)])
    assert box_iou(boxes[0, :1], boxes[0, 2:])[0, 0] < 0.3 < box_iou(boxes[0, :1], boxes[0, 1:2])[0, 0]
    assert nms(boxes, scores, iou_thres=0.3)[0][:, 4].tolist() == pytest.approx([0.9, 0.7])
    fast = fast_nms(boxes, scores, iou_thres=0.3, max_det=5)
    assert fast.shape == (1, 5, 6)
    assert (fast[0, :, 4] > 0).sum() == 1 and fast[0, 0, 4] == pytest.approx(0.9)
    # Without a chain both agree.
    boxes, scores = _scored([(0, 0, 10, 10, 0.9, 0), (1, 1, 11, 11, 0.8, 0), (20, 20, 30, 30, 0.7, 1)])
    greedy = nms(boxes, scores, iou_thres=0.5)[0]
    fast = fast_nms(boxes, scores, iou_thres=0.5, max_det=3)[0]
    assert torch.allclose(fast[fast[:, 4] > 0], greedy)


def test_detection_export_wraps_the_network_and_exports():
    model = edgecv.create_model("yolo_n", num_classes=NC).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        boxes, scores = DetectionExport(model)(x)
        ref_boxes, ref_scores = decode(model(x), model.reg_max)
        det = DetectionExport(model, nms=True, conf_thres=0.0, max_det=10)(x)
    assert torch.equal(boxes, ref_boxes) and torch.equal(scores, ref_scores)
    assert det.shape == (1, 10, 6)
    # Fixed shapes and no Python control flow on data: the whole post-processing traces into a graph.
    exported = torch.export.export(DetectionExport(model, nms=True, conf_thres=0.0, max_det=10), (x,))
    assert torch.allclose(exported.module()(x), det, atol=1e-5)
