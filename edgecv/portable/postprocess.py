"""Outputs to predictions: softmax top-k, greedy per-class NMS (the evaluator's algorithm), class maps, and
the metadata-driven ``Pipeline`` that the device CLI and ``edgecv predict`` share."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .heads import class_probabilities, decode, kept_detections
from .preprocess import Geometry, preprocess
from .segmentation import class_map, class_shares


def top_classes(logits: np.ndarray, k: int, head: str | None = None) -> list[tuple[int, float]]:
    """The ``k`` best classes of one image's scores (logits, or probabilities a foreign head already gives)."""
    p = class_probabilities(logits, head)
    order = np.argsort(-p, kind="stable")[:k]
    return [(int(i), float(p[i])) for i in order]


def nms(boxes: np.ndarray, scores: np.ndarray, conf_thres: float = 0.25, iou_thres: float = 0.45,
        max_det: int = 300, max_candidates: int = 3000, agnostic: bool = False) -> np.ndarray:
    """One image: boxes ``[N, 4]`` xyxy, scores ``[N, C]`` -> ``[K, 6]`` (x1, y1, x2, y2, score, class)."""
    cls = scores.argmax(-1)
    conf = scores[np.arange(len(scores)), cls]
    keep = conf > conf_thres
    boxes, conf, cls = boxes[keep], conf[keep], cls[keep]
    shifted = boxes.astype(np.float64) + (0.0 if agnostic else cls[:, None] * 7680.0)
    order = np.argsort(-conf, kind="stable")[:max_candidates]
    s = shifted[order]
    area = np.clip(s[:, 2] - s[:, 0], 0, None) * np.clip(s[:, 3] - s[:, 1], 0, None)
    remaining, kept = np.arange(len(order)), []
    while len(remaining) and len(kept) < max_det:
        i, rest = remaining[0], remaining[1:]
        kept.append(i)
        lt = np.maximum(s[i, :2], s[rest, :2])
        rb = np.minimum(s[i, 2:], s[rest, 2:])
        inter = np.clip(rb - lt, 0, None).prod(1)
        iou = inter / (area[i] + area[rest] - inter + 1e-9)
        remaining = rest[iou <= iou_thres]
    idx = order[np.asarray(kept, np.int64)]
    return np.concatenate([boxes[idx], conf[idx, None], cls[idx, None].astype(boxes.dtype)], 1).astype(np.float32)


class Pipeline:
    """Image -> model input -> readable predictions, all driven by an artifact's metadata."""

    def __init__(self, metadata: dict) -> None:
        from .errors import DeviceError
        from .memory import NETWORK_BYTES_PER_PIXEL, check_fits

        if not isinstance(metadata.get("preprocess"), dict) or metadata.get("task") is None:
            raise DeviceError(f"{metadata.get('model') or 'this model'}: its metadata has no task or preprocess: "
                              "edgecv cannot prepare images for it")
        size = int(metadata["preprocess"]["input_size"])
        check_fits(f"{size}x{size} inputs", size * size * NETWORK_BYTES_PER_PIXEL, "the file's input_size is too large")
        self.meta = metadata
        self.pre = SimpleNamespace(**metadata["preprocess"])
        self.labels = metadata.get("labels") or []
        self.roles = {o["role"]: o["name"] for o in metadata.get("outputs") or [] if "role" in o}

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Geometry]:
        x, geo = preprocess(image, self.pre)
        return x[None], geo

    def _label(self, k: int) -> str:
        return self.labels[k] if k < len(self.labels) else str(k)

    def segment(self, outputs: dict, geo: Geometry, image_hw: tuple[int, int]) -> np.ndarray:
        """A segmentation model's class map ``[H, W]`` uint8 at the image's size (255: pixels not seen)."""
        return class_map(decode(outputs, self.meta)["logits"][0], geo, image_hw)

    def predictions(self, outputs: dict, geo: Geometry, image_hw: tuple[int, int], top: int = 5) -> list[dict]:
        """One image's outputs (name -> float array with a batch axis of 1) -> a list of predictions."""
        if self.meta["task"] == "detection":
            settings = dict((self.meta.get("detection") or {}).get("nms") or {})
            decoded = decode(outputs, self.meta)
            if "detections" in decoded:  # the file suppressed its own boxes
                det = kept_detections(decoded["detections"][0], settings.get("conf_thres", 0.25),
                                      settings.get("max_det", 300))
            else:
                det = nms(decoded["boxes"][0], decoded["scores"][0],
                          settings.get("conf_thres", 0.25), settings.get("iou_thres", 0.45),
                          settings.get("max_det", 300), agnostic=settings.get("class_agnostic", False))
            h, w = image_hw
            boxes = geo.to_image(det[:, :4])
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
            return [{"class": int(c), "label": self._label(int(c)), "score": round(float(s), 5),
                     "box": [round(float(v), 2) for v in b]} for b, s, c in zip(boxes, det[:, 4], det[:, 5])]
        if self.meta["task"] == "segmentation":
            return class_shares(self.segment(outputs, geo, image_hw), self.labels, top)
        logits = decode(outputs, self.meta)["logits"][0]
        return [{"class": k, "label": self._label(k), "score": round(p, 5)}
                for k, p in top_classes(logits, top, self.meta.get("head"))]
