"""Metrics match their references; the Evaluator scores any callable the same way."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

import edgecv
from edgecv.data import get_dataset
from edgecv.metrics import coco_map, topk_accuracy
from edgecv.metrics.detection import coco_detections, coco_ground_truth
from edgecv.scoring import Evaluator, torch_predictor


def test_topk():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    targets = np.array([1, 2, 0, 1])
    acc = topk_accuracy(logits, targets, ks=(1, 2, 5))
    # row 3 ties 0.5/0.5: the stable sort ranks class 0 first, so it is a top-1 miss and a top-2 hit
    assert acc == {1: 25.0, 2: 50.0, 5: 100.0}


def _random_detections(seed=0, n_images=40, classes=3):
    rng = np.random.default_rng(seed)
    targets, dets, sizes = [], [], []
    for _ in range(n_images):
        k = rng.integers(0, 6)
        xy = rng.uniform(0, 150, (k, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(4, 50, (k, 2))], 1)
        cls = rng.integers(0, classes, k)
        targets.append((boxes, cls))
        sizes.append((200, 220))
        found = np.concatenate([boxes + rng.normal(0, 3, boxes.shape), rng.uniform(0.2, 1, (k, 1)), cls[:, None]], 1)
        noise = np.concatenate([rng.uniform(0, 100, (3, 2)), rng.uniform(110, 200, (3, 2)), rng.uniform(0, 0.6, (3, 1)),
                                rng.integers(0, classes, (3, 1))], 1)
        dets.append(np.concatenate([found, noise]))
    return targets, dets, sizes


def test_coco_map_equals_pycocotools():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    targets, dets, sizes = _random_detections()
    ours = coco_map(targets, dets, sizes, num_classes=3)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_ground_truth(targets, sizes, 3)
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(coco_detections(dets)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert 5 < ours["map50_95"] < 95
    assert ours["map50_95"] == pytest.approx(100 * ev.stats[0], abs=1e-6)
    assert ours["map50"] == pytest.approx(100 * ev.stats[1], abs=1e-6)


def test_perfect_and_empty_detections():
    targets, _, sizes = _random_detections(1)
    perfect = [np.concatenate([b, np.ones((len(b), 1)), c[:, None]], 1) for b, c in targets]
    assert coco_map(targets, perfect, sizes, 3) == {"map50_95": pytest.approx(100.0), "map50": pytest.approx(100.0)}
    assert coco_map(targets, [np.zeros((0, 6))] * len(targets), sizes, 3) == {"map50_95": 0.0, "map50": 0.0}


def test_evaluator_classification_on_an_oracle_and_a_module():
    ds = get_dataset("digits", "val", limit=50)
    pre = edgecv.get_card("lenet5").preprocess
    labels = iter([ds[i][1] for i in range(len(ds))])

    def oracle(x):  # any callable works: here one that knows the answers
        return np.eye(10)[[next(labels) for _ in range(len(x))]]

    assert Evaluator(ds, pre, batch_size=16)(oracle)["top1"] == 100.0
    scores = Evaluator(ds, pre)(torch_predictor(edgecv.create_model("lenet5")))
    assert set(scores) == {"top1", "top5", "images"} and scores["images"] == 50


def test_evaluator_detection_maps_boxes_back_to_the_image():
    ds = get_dataset("shapes-det", "val", imgsz=64, limit=8)
    pre = edgecv.get_card("yolo_n").preprocess.at_size(96)  # letterbox 64 -> 96: boxes must be scaled back
    items = [ds[i] for i in range(len(ds))]
    it = iter(items)

    def oracle(x):
        n = 20
        boxes, scores = np.zeros((len(x), n, 4), np.float32), np.zeros((len(x), n, ds.num_classes), np.float32)
        for b in range(len(x)):
            _, gt_boxes, gt_classes = next(it)
            k = len(gt_boxes)
            boxes[b, :k] = gt_boxes * 1.5  # image pixels -> network pixels (scale 96/64, no padding)
            scores[b, np.arange(k), gt_classes] = 0.9
        return boxes, scores

    result = Evaluator(ds, pre, batch_size=3)(oracle)
    assert result["map50_95"] == pytest.approx(100.0) and result["images"] == 8


def test_evaluator_rejects_a_model_for_other_classes():
    ds = get_dataset("digits", "val", limit=4)
    with pytest.raises(edgecv.UsageError, match="predicts 3 classes but digits has 10"):
        Evaluator(ds, edgecv.get_card("lenet5").preprocess)(lambda x: torch.zeros(len(x), 3))
