"""Tracking accuracy with TrackEval (the MOT challenge's own evaluation code): CLEAR MOT (MOTA, MOTP, ID
switches) and identity metrics (IDF1), matching by box IoU >= 0.5 as the MOT challenge does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._optional import import_optional


def frame_data(gt_ids: np.ndarray, gt_boxes: np.ndarray, ids: np.ndarray, boxes: np.ndarray) -> dict[str, Any]:
    """One frame: ground-truth and tracker ids with the IoU between every pair."""
    from ..portable.tracker import iou

    sim = iou(np.asarray(gt_boxes, float).reshape(-1, 4), np.asarray(boxes, float).reshape(-1, 4))
    return {"gt": np.asarray(gt_ids, int), "tracks": np.asarray(ids, int), "sim": sim}


def _sequence(frames: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """TrackEval's per-sequence input, ids renumbered 0..n-1 as its metrics expect."""
    gt_ids = sorted({int(i) for f in frames for i in f["gt"]})
    tr_ids = sorted({int(i) for f in frames for i in f["tracks"]})
    g, t = {v: k for k, v in enumerate(gt_ids)}, {v: k for k, v in enumerate(tr_ids)}
    return {"num_timesteps": len(frames), "num_gt_ids": len(gt_ids), "num_tracker_ids": len(tr_ids),
            "num_gt_dets": sum(len(f["gt"]) for f in frames), "num_tracker_dets": sum(len(f["tracks"]) for f in frames),
            "gt_ids": [np.array([g[int(i)] for i in f["gt"]], int) for f in frames],
            "tracker_ids": [np.array([t[int(i)] for i in f["tracks"]], int) for f in frames],
            "similarity_scores": [f["sim"] for f in frames]}


def tracking_scores(sequences: Sequence[Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """MOTA, IDF1, MOTP (percent), ID switches, fragmentations, false positives and misses over all sequences."""
    import_optional("trackeval", "track")
    from trackeval.metrics import CLEAR, Identity

    clear, ident = CLEAR({"PRINT_CONFIG": False}), Identity({"PRINT_CONFIG": False})
    per = [(clear.eval_sequence(_sequence(s)), ident.eval_sequence(_sequence(s))) for s in sequences]
    c = clear.combine_sequences({str(k): a for k, (a, _) in enumerate(per)})
    i = ident.combine_sequences({str(k): b for k, (_, b) in enumerate(per)})
    return {"mota": round(100 * float(c["MOTA"]), 3), "idf1": round(100 * float(i["IDF1"]), 3),
            "motp": round(100 * float(c["MOTP"]), 3), "id_switches": int(c["IDSW"]), "fragmentations": int(c["Frag"]),
            "false_positives": int(c["CLR_FP"]), "misses": int(c["CLR_FN"]), "gt_boxes": int(c["CLR_TP"] + c["CLR_FN"])}


__all__ = ["frame_data", "tracking_scores"]
