"""What a model's outputs mean, whoever made it: one decoder per head layout, all to edgecv's own forms.

edgecv's own files name each output's role in their metadata (``logits``; ``boxes`` + ``scores``). Files made
by other tools say it by the metadata's ``head`` (written by ``edgecv annotate``, a sidecar, ``--head`` or a
producer reader such as ``interop/ultralytics.py``):

* ``logits`` / ``probs`` -- classification ``[B, C]`` or segmentation ``[B, C, H, W]``; probabilities are
  detected from the values (``looks_like_probabilities``), never assumed;
* ``yolov8`` -- Ultralytics YOLOv8/YOLO11 raw ``[B, 4 + nc, N]``: centre x, y, width, height in network-input
  pixels, then each class's score (sigmoid already applied);
* ``yolov5`` -- ``[B, N, 5 + nc]``: centre xywh, objectness, class scores (a box's score is objectness x class);
* ``yolo_nms`` -- already suppressed ``[B, N, 6]``: x1, y1, x2, y2, score, class (Ultralytics ``nms=True`` and
  end-to-end models); rows of score 0 are padding.

With ``detection.normalized`` the box coordinates are fractions of the input, as Ultralytics' TFLite files give them.

``decode`` returns ``{"logits"}``, ``{"boxes", "scores"}`` (then NMS as for edgecv's own) or ``{"detections"}``
(already ``[B, K, 6]``: no NMS again). Host scoring, ``edgecv predict`` and the device script all call it.
"""

from __future__ import annotations

import numpy as np

HEADS = {
    "classification": ("logits", "probs"),
    "detection": ("edgecv", "yolov8", "yolov5", "yolo_nms"),
    "segmentation": ("logits", "probs"),
}
ALL_HEADS = tuple(dict.fromkeys(h for heads in HEADS.values() for h in heads))


class HeadError(ValueError):
    """Outputs that do not have the head's shape."""


def looks_like_probabilities(y: np.ndarray, axis: int = 1) -> bool:
    """Every value in [0, 1] and each distribution summing to 1 (softmax already applied)."""
    y = np.asarray(y, np.float64)
    return bool(y.size and y.min() >= -1e-6 and y.max() <= 1 + 1e-6
                and np.allclose(y.sum(axis=axis), 1.0, atol=2e-3))


def _xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    half = b[..., 2:4] / 2
    return np.concatenate([b[..., 0:2] - half, b[..., 0:2] + half], -1)


def _one(outputs: dict[str, np.ndarray], meta: dict) -> np.ndarray:
    """The output the head reads: the one whose role is ``raw``/``logits``, else the first."""
    roles = {o.get("role"): o["name"] for o in meta.get("outputs") or [] if isinstance(o, dict)}
    for role in ("raw", "logits"):
        if roles.get(role) in outputs:
            return outputs[roles[role]]
    return next(iter(outputs.values()))


def decode(outputs: dict[str, np.ndarray], meta: dict) -> dict[str, np.ndarray]:
    """A batch's outputs (name -> float array) -> edgecv's forms (see the module's docstring)."""
    task, head = meta.get("task"), meta.get("head") or ("edgecv" if meta.get("task") == "detection" else "logits")
    if task == "detection":
        if head == "edgecv":
            roles = {o["role"]: o["name"] for o in meta.get("outputs") or [] if "role" in o}
            return {"boxes": outputs[roles["boxes"]], "scores": outputs[roles["scores"]]}
        y = np.asarray(_one(outputs, meta), np.float32)
        if y.ndim != 3:
            raise HeadError(f"a {head} head gives [B, ..., ...], not {list(y.shape)}")
        if (meta.get("detection") or {}).get("normalized"):  # xywh as fractions of the input (TFLite exports)
            y = y.copy()
            size = float((meta.get("preprocess") or {}).get("input_size") or 1)
            if head == "yolov8":
                y[:, :4] *= size
            else:
                y[..., :4] *= size
        if head == "yolov8":
            if y.shape[1] < 5:
                raise HeadError(f"a yolov8 head gives [B, 4 + classes, boxes], not {list(y.shape)}")
            y = y.transpose(0, 2, 1)
            return {"boxes": _xywh_to_xyxy(y[..., :4]), "scores": y[..., 4:]}
        if head == "yolov5":
            if y.shape[2] < 6:
                raise HeadError(f"a yolov5 head gives [B, boxes, 5 + classes], not {list(y.shape)}")
            return {"boxes": _xywh_to_xyxy(y[..., :4]), "scores": y[..., 5:] * y[..., 4:5]}
        if head == "yolo_nms":
            if y.shape[2] != 6:
                raise HeadError(f"a yolo_nms head gives [B, boxes, 6], not {list(y.shape)}")
            return {"detections": y}
        raise HeadError(f"no detection head {head!r} ({', '.join(HEADS['detection'])})")
    return {"logits": _one(outputs, meta)}


class Detections(np.ndarray):
    """``[B, K, 6]`` boxes a model already suppressed (x1, y1, x2, y2, score, class): scored without NMS."""

    def __new__(cls, array: np.ndarray) -> Detections:
        return np.asarray(array, np.float32).view(cls)


def kept_detections(detections: np.ndarray, conf_thres: float, max_det: int) -> np.ndarray:
    """One image's already suppressed ``[N, 6]`` rows above ``conf_thres``, best first, at most ``max_det``."""
    d = detections[detections[:, 4] > conf_thres]
    return d[np.argsort(-d[:, 4], kind="stable")][:max_det].astype(np.float32)


def class_probabilities(logits: np.ndarray, head: str | None) -> np.ndarray:
    """``[C]`` scores of one image as probabilities: softmax of logits, unless they already are probabilities."""
    if head == "probs" or (head != "logits" and looks_like_probabilities(logits, axis=0)):
        return np.asarray(logits, np.float64)
    z = np.asarray(logits, np.float64) - np.max(logits)
    return np.exp(z) / np.exp(z).sum()


__all__ = ["ALL_HEADS", "Detections", "HEADS", "HeadError", "class_probabilities", "decode", "kept_detections",
           "looks_like_probabilities"]
