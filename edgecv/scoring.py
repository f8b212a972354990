"""Score any model on a dataset with one code path, so every runtime is judged the same way.

``score(model, data, limit)`` takes an opened ``Session`` (any runtime, any device: its metadata says the
task and the preprocessing), or a PyTorch module with a card. ``edgecv eval``, the export's accuracy and
parity checks, training's validation and every profile row call it (or its ``Evaluator``), so a number in
one place means the same thing in all of them.

A predictor is a callable taking a float32 batch laid out as the preprocessing contract says and returning
logits ``[B, C]`` (classification), ``(boxes [B, N, 4], scores [B, N, C])`` in network-input pixels
(detection) or per-pixel logits ``[B, C, H, W]`` at the network input's size (segmentation).
``torch_predictor`` adapts a module (a model with a ``decode_head`` decodes its own output: ``models.heads``);
``runtimes.predictor`` adapts a session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .data.base import Dataset
from .errors import UsageError
from .metrics.classification import topk_correct
from .metrics.detection import coco_map
from .metrics.segmentation import ConfusionMatrix
from .portable.heads import Detections, kept_detections
from .portable.preprocess import preprocess_batch
from .preprocess import Preprocess

Predictor = Callable[[np.ndarray], Any]
Progress = Callable[[int, int], None]


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


class Evaluator:
    def __init__(self, dataset: Dataset, preprocess: Preprocess, batch_size: int = 32,
                 conf_thres: float = 0.001, iou_thres: float = 0.6, max_det: int = 300,
                 progress: Callable[[int], None] | None = None, hits: list[bool] | None = None) -> None:
        self.dataset, self.pre, self.batch_size = dataset, preprocess, batch_size
        self.hits = hits  # classification: filled with each image's top-1 right/wrong, in dataset order
        self.conf_thres, self.iou_thres, self.max_det = conf_thres, iou_thres, max_det
        self.progress = progress  # called with the number of images done in each batch

    def batches(self):
        """``(inputs, items, geometries)`` per batch; ``items`` are the dataset's own tuples."""
        for start in range(0, len(self.dataset), self.batch_size):
            items = [self.dataset[i] for i in range(start, min(start + self.batch_size, len(self.dataset)))]
            x, geos = preprocess_batch([it[0] for it in items], self.pre)
            yield x, items, geos

    def __call__(self, predict: Predictor) -> dict[str, float]:
        evaluate = {"classification": self._classification, "detection": self._detection,
                    "segmentation": self._segmentation}[self.dataset.task]
        return evaluate(predict)

    def _classification(self, predict: Predictor) -> dict[str, float]:
        hits, n = {1: 0, 5: 0}, 0
        for x, items, _ in self.batches():
            logits = _numpy(predict(x))
            if logits.ndim != 2 or logits.shape[1] != self.dataset.num_classes:
                raise UsageError(f"the model predicts {logits.shape[-1]} classes but {self.dataset.name} has "
                                 f"{self.dataset.num_classes}")
            targets = np.array([it[1] for it in items])
            for k, c in topk_correct(logits, targets).items():
                hits[k] += c
            if self.hits is not None:
                self.hits.extend(np.argsort(-logits, axis=1, kind="stable")[:, 0] == targets)
            n += len(items)
            if self.progress:
                self.progress(len(items))
        return {"top1": 100.0 * hits[1] / n, "top5": 100.0 * hits[5] / n, "images": n}

    def _detection(self, predict: Predictor) -> dict[str, float]:
        import torch

        from .models.yolo_ops import nms

        targets, detections, sizes = [], [], []
        for x, items, geos in self.batches():
            out = predict(x)
            if isinstance(out, Detections):  # the file suppressed its own boxes: keep them, no NMS again
                kept = [kept_detections(d, self.conf_thres, self.max_det) for d in np.asarray(out)]
                classes = max((int(d[:, 5].max()) + 1 for d in kept if len(d)), default=0)
                if classes > self.dataset.num_classes:
                    raise UsageError(f"the model predicts class {classes - 1} but {self.dataset.name} has "
                                     f"{self.dataset.num_classes} classes")
            else:
                boxes, scores = (_numpy(t) for t in out)
                if scores.shape[-1] != self.dataset.num_classes:
                    raise UsageError(f"the model predicts {scores.shape[-1]} classes but {self.dataset.name} has "
                                     f"{self.dataset.num_classes}")
                # every class of a box above conf_thres is a candidate: the mAP protocol of Ultralytics' (and
                # YOLOv5's) val, so a YOLO file scores here as its own tool scores it
                kept = [d.numpy() for d in nms(torch.from_numpy(np.ascontiguousarray(boxes)),
                                               torch.from_numpy(np.ascontiguousarray(scores)),
                                               self.conf_thres, self.iou_thres, self.max_det, multi_label=True)]
            for det, (image, gt_boxes, gt_classes), geo in zip(kept, items, geos):
                det = det.copy()
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


    def _segmentation(self, predict: Predictor) -> dict[str, float]:
        matrix, n = ConfusionMatrix(self.dataset.num_classes), 0
        for x, items, geos in self.batches():
            logits = _numpy(predict(x))
            if logits.ndim != 4 or logits.shape[1] != self.dataset.num_classes:
                raise UsageError(f"the model predicts {tuple(logits.shape)} but {self.dataset.name} needs per-pixel "
                                 f"scores for {self.dataset.num_classes} classes [B, {self.dataset.num_classes}, H, W]")
            for classes, (_, truth), geo in zip(logits.argmax(1).astype(np.uint8), items, geos):
                matrix.update(truth, geo.mask_to_image(classes, truth.shape))  # scored at the image's own size
            n += len(items)
            if self.progress:
                self.progress(len(items))
        return {**matrix.scores(), "images": n}


def torch_predictor(model: Any) -> Predictor:
    """Wrap a PyTorch module as a predictor (eval mode, no autograd; a detector's head decoded by its hook)."""
    import torch

    from .models.heads import decoded

    model.eval()

    def predict(x: np.ndarray):
        with torch.inference_mode():
            return decoded(model, model(torch.from_numpy(x)))

    return predict


def score(model: Any, data: str | Dataset, limit: int | None = None, *, preprocess: Preprocess | None = None,
          batch_size: int = 32, progress: Progress | None = None, hits: list[bool] | None = None) -> dict[str, float]:
    """Accuracy of ``model`` on the val split of ``data`` (a name or path, or a ``Dataset`` already made):
    ``{"top1", "top5", "images"}``, ``{"map50_95", "map50", ..., "images"}`` or ``{"miou", "pixel_acc",
    "images"}``.

    ``model`` is a ``runtimes.Session`` (task and preprocessing from its metadata) or a module with a card
    (``preprocess`` overrides the card's, e.g. at another size). ``progress(done, total)`` after each batch;
    a classifier's ``hits`` list gets each image's top-1 right/wrong."""
    from .runtimes import Session, predictor

    if isinstance(model, Session):
        from .interop import unscorable

        meta = model.metadata or {}
        why = unscorable(meta, model._label())
        if why:
            raise UsageError(f"no accuracy: {why}")
        pre, task, predict = Preprocess.from_dict(meta["preprocess"]), meta["task"], predictor(model)
        name = str(model.path or meta.get("model"))
    else:
        card = model.card
        pre, task, predict, name = preprocess or card.preprocess, card.task, torch_predictor(model), card.name
    if isinstance(data, Dataset):
        ds = data
    else:
        from .data import get_dataset

        ds = get_dataset(data, "val", imgsz=pre.input_size, limit=limit)
    if ds.task != task:
        raise UsageError(f"{name} is a {task} model but {ds.name} is {ds.task} data")
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, len(ds))

    return Evaluator(ds, pre, batch_size, progress=advance, hits=hits)(predict)


__all__ = ["Evaluator", "Predictor", "score", "torch_predictor"]
