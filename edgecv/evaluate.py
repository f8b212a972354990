"""Score any predictor on a dataset with one code path, so every runtime is judged the same way.

A predictor is a callable taking a float32 batch laid out as the preprocessing contract says and
returning logits ``[B, C]`` (classification) or ``(boxes [B, N, 4], scores [B, N, C])`` in
network-input pixels (detection). ``torch_predictor`` adapts a PyTorch module; runtime sessions
plug in the same way.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .data.base import Dataset
from .data.transforms import preprocess_batch
from .errors import UsageError
from .metrics.classification import topk_correct
from .metrics.detection import coco_map
from .preprocess import Preprocess
from .resources import check_memory

Predictor = Callable[[np.ndarray], Any]


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


class Evaluator:
    def __init__(self, dataset: Dataset, preprocess: Preprocess, batch_size: int = 32,
                 conf_thres: float = 0.001, iou_thres: float = 0.6, max_det: int = 300,
                 progress: Callable[[int], None] | None = None) -> None:
        self.dataset, self.pre, self.batch_size = dataset, preprocess, batch_size
        self.conf_thres, self.iou_thres, self.max_det = conf_thres, iou_thres, max_det
        self.progress = progress  # called with the number of images done in each batch

    def batches(self):
        """``(inputs, items, geometries)`` per batch; ``items`` are the dataset's own tuples."""
        for start in range(0, len(self.dataset), self.batch_size):
            items = [self.dataset[i] for i in range(start, min(start + self.batch_size, len(self.dataset)))]
            x, geos = preprocess_batch([it[0] for it in items], self.pre)
            yield x, items, geos

    def __call__(self, predict: Predictor) -> dict[str, float]:
        if self.dataset.task == "classification":
            return self._classification(predict)
        return self._detection(predict)

    def _classification(self, predict: Predictor) -> dict[str, float]:
        hits, n = {1: 0, 5: 0}, 0
        for x, items, _ in self.batches():
            logits = _numpy(predict(x))
            if logits.ndim != 2 or logits.shape[1] != self.dataset.num_classes:
                raise UsageError(f"the model predicts {logits.shape[-1]} classes but {self.dataset.name} has "
                                 f"{self.dataset.num_classes}")
            for k, c in topk_correct(logits, np.array([it[1] for it in items])).items():
                hits[k] += c
            n += len(items)
            if self.progress:
                self.progress(len(items))
        return {"top1": 100.0 * hits[1] / n, "top5": 100.0 * hits[5] / n, "images": n}

    def _detection(self, predict: Predictor) -> dict[str, float]:
        import torch

        from .models.yolo_ops import nms

        targets, detections, sizes = [], [], []
        for x, items, geos in self.batches():
            boxes, scores = (_numpy(t) for t in predict(x))
            if scores.shape[-1] != self.dataset.num_classes:
                raise UsageError(f"the model predicts {scores.shape[-1]} classes but {self.dataset.name} has "
                                 f"{self.dataset.num_classes}")
            kept = nms(torch.from_numpy(boxes), torch.from_numpy(scores), self.conf_thres, self.iou_thres, self.max_det)
            for det, (image, gt_boxes, gt_classes), geo in zip(kept, items, geos):
                det = det.numpy().copy()
                h, w = image.shape[:2]
                det[:, :4] = geo.to_image(det[:, :4])
                det[:, [0, 2]] = det[:, [0, 2]].clip(0, w)
                det[:, [1, 3]] = det[:, [1, 3]].clip(0, h)
                detections.append(det)
                targets.append((gt_boxes, gt_classes))
                sizes.append((h, w))
            if self.progress:
                self.progress(len(items))
        return {**coco_map(targets, detections, sizes, self.dataset.num_classes), "images": len(sizes)}


def torch_predictor(model: Any, task: str) -> Predictor:
    """Wrap a PyTorch module as a predictor (eval mode, no autograd; YOLO maps are decoded)."""
    import torch

    from .models.yolo_ops import decode

    model.eval()

    def predict(x: np.ndarray):
        with torch.inference_mode():
            out = model(torch.from_numpy(x))
            if task == "detection":
                return decode(out, model.reg_max, model.strides)
            return out

    return predict


def evaluate_target(target: str, weights: str | None = None, data: str | None = None, imgsz: int | None = None,
                    limit: int | None = None, batch_size: int = 64,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Evaluate a zoo model (default or given weights) or a checkpoint on a dataset's val split.

    The dataset and input size default to what the weights were trained on. ``progress(done, total)``.
    """
    from .data import get_dataset
    from .models.resolve import load_target

    model = load_target(target, weights, require_weights=True)
    meta = model.checkpoint_meta or {}
    data = data or meta.get("dataset")
    if data is None:
        raise UsageError(f"say which data to evaluate {target} on with --data")
    pre = model.card.preprocess
    if imgsz is not None:
        pre = pre.at_size(imgsz)
    check_memory(f"eval at {pre.input_size}px in batches of {batch_size}", batch_size, pre.input_size,
                 hint="use a smaller --imgsz or --batch")
    ds = get_dataset(data, "val", imgsz=pre.input_size, limit=limit)
    if ds.task != model.card.task:
        raise UsageError(f"{target} is a {model.card.task} model but {data} is {ds.task} data")
    scores = _score(ds, pre, batch_size, torch_predictor(model, model.card.task), progress)
    return {"model": model.card.name, "data": str(data), "imgsz": pre.input_size, "task": model.card.task,
            "metrics": scores, "preprocess": pre.to_dict()}


def _score(ds: Dataset, pre: Preprocess, batch_size: int, predict: Predictor,
           progress: Callable[[int, int], None] | None) -> dict[str, float]:
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, len(ds))

    return Evaluator(ds, pre, batch_size, progress=advance)(predict)


def evaluate_artifact(path: str, runtime: str | None = None, provider: str | None = None, device: str | None = None,
                      threads: int | None = None, data: str | None = None, limit: int | None = None,
                      batch_size: int = 64, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Evaluate an exported ``.onnx``/``.tflite`` on a runtime and device, preprocessing from its metadata.

    The dataset defaults to the one recorded at export (the model's training data)."""
    from .data import get_dataset
    from .runtimes import load, predictor

    with load(path, runtime, provider, device, threads) as session:
        meta = session.metadata
        if not meta:
            raise UsageError(f"{path} has no edgecv metadata, so its preprocessing and labels are unknown")
        data = data or meta.get("source", {}).get("data") or (meta.get("calibration") or {}).get("data")
        if data is None:
            raise UsageError(f"say which data to evaluate {path} on with --data")
        pre = Preprocess.from_dict(meta["preprocess"])
        ds = get_dataset(data, "val", imgsz=pre.input_size, limit=limit)
        if ds.task != meta["task"]:
            raise UsageError(f"{path} is a {meta['task']} model but {data} is {ds.task} data")
        scores = _score(ds, pre, batch_size, predictor(session), progress)
        where = {k: v for k, v in session.describe().items() if k in ("runtime", "provider", "device", "emulated")}
    return {"model": meta.get("model"), "artifact": str(path), "format": meta.get("format"),
            "precision": meta.get("precision"), **where, "data": str(data), "imgsz": pre.input_size,
            "task": meta["task"], "metrics": scores, "preprocess": pre.to_dict()}
