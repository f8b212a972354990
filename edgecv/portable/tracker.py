"""Multi-object tracking by detection, numpy only (it also runs on a board with the device script).

SORT / DeepSORT's design without the appearance cue:

- **Motion**: a constant-velocity Kalman filter per track on the box centre and size, ``[cx, cy, w, h]`` and
  their velocities; noise proportional to the box height (DeepSORT's weights 1/20 for position, 1/160 for
  velocity). All tracks are predicted and updated together, as batched matrices.
- **Matching**: the Hungarian algorithm on ``1 - IoU`` between the predicted tracks and the detections (of the
  same class only with ``per_class``; otherwise a track takes its latest detection's class); pairs under
  ``iou_threshold`` are not matched. scipy's ``linear_sum_assignment`` where scipy is installed, else the numpy
  implementation below (same optimum; slower). The defaults (IoU 0.1, class-agnostic, ``min_hits`` 3,
  ``max_age`` 10) were chosen on 12 ``shapes-track`` train sequences with yolo_n: MOTA 53.1, IDF1 57.7, against
  52.8 / 54.7 at SORT's 0.3 and 44-45 MOTA matching per class (the detector's class flips start new tracks).
- **Birth and death**: an unmatched detection starts a tentative track; it is reported once it has been
  matched ``min_hits`` frames in a row (from the first frame on, tracks are reported at once); a track not
  matched for ``max_age`` frames is deleted, and a tentative one at its first miss.

- **Appearance** (optional, DeepSORT's cue): with an embedding per detection (e.g. a classifier's class
  probabilities for the box's crop), each track keeps a running mean of its own (``EMBED_MOMENTUM``), and the
  matching cost of a pair that passes the motion gate (IoU) becomes the mean of ``1 - IoU`` and the cosine
  distance; a pair further apart in appearance than ``max_cosine`` is not matched (default 1.0: no appearance
  gate, since the only embedder edgecv has, a classifier's class probabilities, cost accuracy when it gated:
  docs/tracking.md).

``Tracker.update(boxes, scores, classes[, embeddings])`` takes one frame's detections (``xyxy`` pixels) and returns
the tracks matched in that frame as rows ``[id, x1, y1, x2, y2, score, class]``, ids counting from 1.
"""

from __future__ import annotations

import numpy as np

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)  # x' = x + v
_H = np.eye(4, 8)
STD_POSITION, STD_VELOCITY = 1 / 20, 1 / 160
EMBED_MOMENTUM = 0.9  # a track's appearance: 0.9 of its old embedding, 0.1 of the new detection's


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` [N, 4] with every box in ``b`` [M, 4] (xyxy)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


_SOLVER: list = []  # scipy's linear_sum_assignment, or the numpy one: looked up once, not on every frame


def hungarian(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a minimum-cost assignment (``scipy.optimize.linear_sum_assignment``'s answer)."""
    if not _SOLVER:
        try:
            from scipy.optimize import linear_sum_assignment

            _SOLVER.append(linear_sum_assignment)
        except ImportError:
            _SOLVER.append(hungarian_numpy)
    rows, cols = _SOLVER[0](cost)
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64)


def hungarian_numpy(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shortest-augmenting-path Hungarian method with potentials, O(n^2 m), one row at a time."""
    cost = np.asarray(cost, np.float64)
    flip = cost.shape[0] > cost.shape[1]
    c = cost.T if flip else cost
    n, m = c.shape
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, np.int64)  # owner[j]: the row (1-based) assigned to column j; column 0 is virtual
    way = np.zeros(m + 1, np.int64)
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        dist = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            free = ~used[1:]
            reduced = c[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < dist[1:])
            dist[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, dist[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            dist[1:][free] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # augment along the path
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = np.nonzero(owner[1:])[0]
    rows = owner[1:][cols] - 1
    order = np.argsort(rows)
    rows, cols = rows[order], cols[order]
    return (cols, rows) if flip else (rows, cols)


def _xyxy(state: np.ndarray) -> np.ndarray:
    cx, cy, w, h = state[:, 0], state[:, 1], np.maximum(state[:, 2], 1e-3), np.maximum(state[:, 3], 1e-3)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


def _cxcywh(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                     boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)


class Tracker:
    def __init__(self, iou_threshold: float = 0.1, max_age: int = 10, min_hits: int = 3, per_class: bool = False,
                 max_cosine: float = 1.0) -> None:
        self.iou_threshold, self.max_age, self.min_hits, self.per_class = iou_threshold, max_age, min_hits, per_class
        self.max_cosine = max_cosine
        hungarian(np.zeros((1, 1)))  # the solver's import (scipy: ~0.3 s) here, not in the first frame's time
        self.emb: np.ndarray | None = None  # [tracks, D] unit vectors, once embeddings are given
        self.x = np.zeros((0, 8))  # states
        self.p = np.zeros((0, 8, 8))  # covariances
        self.ids = np.zeros(0, np.int64)
        self.classes = np.zeros(0, np.int64)
        self.scores = np.zeros(0)
        self.hits = np.zeros(0, np.int64)  # consecutive frames matched
        self.misses = np.zeros(0, np.int64)  # frames since last matched
        self.confirmed = np.zeros(0, bool)
        self.frame, self.next_id = 0, 1

    def update(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
               embeddings: np.ndarray | None = None) -> np.ndarray:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores, classes = np.asarray(scores, np.float64).ravel(), np.asarray(classes, np.int64).ravel()
        if embeddings is not None and not len(boxes):
            embeddings = None  # nothing to describe this frame
        if embeddings is not None:
            e = np.asarray(embeddings, np.float64).reshape(len(boxes), -1)
            embeddings = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
            if self.emb is None:
                self.emb = np.zeros((len(self.ids), e.shape[1]))
        self.frame += 1
        self._predict()
        matched_t, matched_d = self._match(boxes, classes, embeddings)
        self._correct(matched_t, boxes[matched_d])
        if embeddings is not None and self.emb is not None:
            mixed = EMBED_MOMENTUM * self.emb[matched_t] + (1 - EMBED_MOMENTUM) * embeddings[matched_d]
            self.emb[matched_t] = mixed / np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)
        self.classes[matched_t] = classes[matched_d]  # class-agnostic matching: a track takes its latest class
        self.scores[matched_t] = scores[matched_d]
        self.hits[matched_t] += 1
        self.misses += 1
        self.misses[matched_t] = 0
        missed = np.ones(len(self.ids), bool)
        missed[matched_t] = False
        self.hits[missed] = 0
        self.confirmed |= (self.hits >= self.min_hits) | ((self.frame <= self.min_hits) & (self.misses == 0))
        keep = (self.misses <= self.max_age) & (self.confirmed | (self.misses == 0))
        self._select(keep)
        fresh = np.setdiff1d(np.arange(len(boxes)), matched_d)
        self._start(boxes[fresh], scores[fresh], classes[fresh])
        if self.emb is not None:
            new = embeddings[fresh] if embeddings is not None else np.zeros((len(fresh), self.emb.shape[1]))
            self.emb = np.concatenate([self.emb, new])
        shown = (self.misses == 0) & self.confirmed
        return np.concatenate([self.ids[shown, None], _xyxy(self.x[shown]), self.scores[shown, None],
                               self.classes[shown, None]], 1)

    # -- the filter --------------------------------------------------------------------------------------
    def _noise(self, scale: np.ndarray, weights: tuple[float, float]) -> np.ndarray:
        std = np.concatenate([np.repeat(weights[0] * scale[:, None], 4, 1), np.repeat(weights[1] * scale[:, None], 4, 1)],
                             1)
        return np.einsum("ti,ij->tij", std ** 2, np.eye(8))

    def _predict(self) -> None:
        if not len(self.ids):
            return
        self.x = self.x @ _F.T
        self.p = _F @ self.p @ _F.T + self._noise(self.x[:, 3], (STD_POSITION, STD_VELOCITY))

    def _correct(self, tracks: np.ndarray, boxes: np.ndarray) -> None:
        if not len(tracks):
            return
        x, p, z = self.x[tracks], self.p[tracks], _cxcywh(boxes)
        r = self._noise(x[:, 3], (STD_POSITION, 0.0))[:, :4, :4]
        s = _H @ p @ _H.T + r
        gain = p @ _H.T @ np.linalg.inv(s)
        self.x[tracks] = x + np.einsum("tij,tj->ti", gain, z - x[:, :4])
        self.p[tracks] = (np.eye(8) - gain @ _H) @ p

    def _match(self, boxes: np.ndarray, classes: np.ndarray,
               embeddings: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if not len(self.ids) or not len(boxes):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        overlap = iou(_xyxy(self.x), boxes)
        if self.per_class:
            overlap[self.classes[:, None] != classes[None, :]] = 0.0
        gate = overlap >= self.iou_threshold  # motion first: appearance only ranks the pairs motion allows
        cost = 1.0 - overlap
        if embeddings is not None and self.emb is not None:
            known = np.linalg.norm(self.emb, axis=1) > 0  # tracks started before embeddings came have none
            distance = np.where(known[:, None], 1.0 - self.emb @ embeddings.T, 0.0)
            gate &= distance <= self.max_cosine
            cost = 0.5 * cost + 0.5 * distance
            cost = np.where(gate, cost, 2.0)  # appearance can only choose among the pairs motion allows
        rows, cols = hungarian(cost)
        good = gate[rows, cols]
        return rows[good], cols[good]

    def _start(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> None:
        n = len(boxes)
        if not n:
            return
        state = np.concatenate([_cxcywh(boxes), np.zeros((n, 4))], 1)
        cov = self._noise(state[:, 3], (2 * STD_POSITION, 10 * STD_VELOCITY))
        self.x, self.p = np.concatenate([self.x, state]), np.concatenate([self.p, cov])
        self.ids = np.concatenate([self.ids, np.arange(self.next_id, self.next_id + n)])
        self.next_id += n
        self.classes, self.scores = np.concatenate([self.classes, classes]), np.concatenate([self.scores, scores])
        self.hits = np.concatenate([self.hits, np.ones(n, np.int64)])
        self.misses = np.concatenate([self.misses, np.zeros(n, np.int64)])
        self.confirmed = np.concatenate([self.confirmed, np.full(n, self.frame <= self.min_hits)])

    def _select(self, keep: np.ndarray) -> None:
        for name in ("x", "p", "ids", "classes", "scores", "hits", "misses", "confirmed"):
            setattr(self, name, getattr(self, name)[keep])
        if self.emb is not None:
            self.emb = self.emb[keep]


def update_from(tracker: Tracker, predictions: list[dict], embeddings: np.ndarray | None = None) -> np.ndarray:
    """``Tracker.update`` with one frame's ``Pipeline.predictions`` (``{"box", "score", "class"}`` dicts)."""
    boxes = np.array([d["box"] for d in predictions], float).reshape(-1, 4)
    return tracker.update(boxes, np.array([d["score"] for d in predictions]), np.array([d["class"] for d in predictions]),
                          embeddings)


def mot_lines(frame: int, tracks: np.ndarray) -> list[str]:
    """One frame's tracks in the MOT challenge's text format: ``frame,id,left,top,width,height,score,-1,-1,-1``."""
    return [f"{frame},{int(t[0])},{t[1]:.2f},{t[2]:.2f},{t[3] - t[1]:.2f},{t[4] - t[2]:.2f},{t[5]:.4f},-1,-1,-1"
            for t in tracks]


def timing_summary(detector_ms: list[float], tracker_ms: list[float]) -> dict:
    """Frames, end-to-end frames per second, median detector and tracker milliseconds, the tracker's share."""
    total = sum(detector_ms) + sum(tracker_ms)
    return {"frames": len(detector_ms), "fps": round(1e3 * len(detector_ms) / total, 2) if total else None,
            "detector_ms": round(float(np.median(detector_ms)), 3) if detector_ms else None,
            "tracker_ms": round(float(np.median(tracker_ms)), 4) if tracker_ms else None,
            "tracker_ms_max": round(float(max(tracker_ms)), 4) if tracker_ms else None,
            "tracker_share": round(float(sum(tracker_ms) / total), 4) if total else None}


__all__ = ["Tracker", "hungarian", "hungarian_numpy", "iou", "mot_lines", "timing_summary", "update_from"]
