from __future__ import annotations

import numpy as np


def topk_correct(logits: np.ndarray, targets: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """How many rows have their target among the ``k`` highest scores, for each ``k``.

    Ties are broken by a stable sort on class index, so the count is reproducible.
    """
    logits, targets = np.asarray(logits), np.asarray(targets)
    order = np.argsort(-logits, axis=1, kind="stable")
    hits = order == targets[:, None]
    return {k: int(hits[:, : min(k, logits.shape[1])].any(1).sum()) for k in ks}


def topk_accuracy(logits: np.ndarray, targets: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[int, float]:
    """Top-k accuracy in percent."""
    n = len(targets)
    return {k: 100.0 * c / n for k, c in topk_correct(logits, targets, ks).items()}
