"""``edgecv export --precision int8 --max-drop D``: the int8 ONNX file within an accuracy budget.

Cheapest first, on the runtime that will run the file (onnxruntime):

1. the calibration: min/max, percentile, entropy (the exporter's own quantizer, same images);
2. mixed precision: the layers with the lowest SQNR (``edgecv layers``) kept in float, 1, 2, 4, 8, ... of them,
   until the drop fits.

Every decision is made on a held-out slice of the training split (images the calibration did not use); the
val split is measured once, at the end, for the chosen file, so the reported number is not the tuned one.
What was tried and chosen goes into the file's metadata (``calibration.search``). If nothing fits, the best
variant found is written with its measured drop, and the caller exits non-zero.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..data.base import Dataset
from ..errors import UsageError

METHODS = ("minmax", "percentile", "entropy")
FLOAT_STEPS = (1, 2, 4, 8, 16, 32)


class _Picked(Dataset):
    """Chosen items of a dataset, by index."""

    def __init__(self, base: Dataset, indices: list[int]) -> None:
        self.base, self.indices = base, indices
        self.task, self.labels, self.name = base.task, base.labels, base.name
        self.flip_invariant = base.flip_invariant

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.base[self.indices[index]]


def search(int8: Path, fp32: Path, max_drop: float, holdout: int = 500, eval_limit: int | None = None,
           threads: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Replace ``int8`` (an edgecv int8 ONNX file) by the fastest variant found within ``max_drop`` (a fraction:
    0.005 is half a point) of ``fp32``'s headline accuracy; return the search record (also in its metadata)."""
    from ..artifact import read_metadata
    from ..data import get_dataset
    from ..exporters.onnx import OnnxExporter, quantize_onnx
    from ..metrics import HEADLINE
    from ..portable.preprocess import preprocess_batch
    from ..preprocess import Preprocess
    from ..runtimes import load
    from ..scoring import score
    from .layers import errors

    meta = read_metadata(int8) or {}
    cal = meta.get("calibration") or {}
    if cal.get("split") != "train":
        raise UsageError(f"--max-drop decides on a held-out slice of the training split, and {cal.get('data')} "
                         "has none")
    pre = Preprocess.from_dict(meta["preprocess"])
    train = get_dataset(cal["data"], "train", imgsz=pre.input_size)
    order = np.random.default_rng(0).permutation(len(train))  # the calibration's own draw (load_images)
    calib_idx = sorted(int(i) for i in order[:int(cal["images"])])
    held = sorted(int(i) for i in order[int(cal["images"]):int(cal["images"]) + holdout])
    if len(held) < 50:
        raise UsageError(f"--max-drop needs at least 50 training images beyond the {len(calib_idx)} used to "
                         "calibrate; use fewer --calib-samples")
    decide = _Picked(train, held)
    calib, _ = preprocess_batch([train[i][0] for i in calib_idx], pre)
    metric, budget = HEADLINE[meta["task"]], 100 * max_drop

    def accuracy(path: Path, data: Any, limit: int | None = None) -> float:
        with load(path, threads=threads) as session:
            return score(session, data, limit)[metric]

    reference = accuracy(fp32, decide)
    log(f"--max-drop {max_drop:g}: fp32 {metric} {reference:.2f} on {len(held)} held-out training images")
    tried: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="edgecv-budget-"))

    def variant(method: str, keep: tuple[str, ...]) -> dict[str, Any]:
        if method == cal.get("method", "minmax") and tuple(keep) == tuple(cal.get("keep_float") or ()):
            path = int8  # the file the export wrote
        else:
            built = quantize_onnx(fp32, work / "q.onnx", (calib[i:i + 1] for i in range(len(calib))), method,
                                  bool(cal.get("reduce_range")), keep, meta.get("model", "the model"))
            path = work / f"{method}-{len(keep)}.onnx"
            OnnxExporter().embed_metadata(built, json.dumps(meta), path)
        got = accuracy(path, decide)
        entry = {"method": method, "keep_float": list(keep), metric: round(got, 3), "drop": round(reference - got, 3),
                 "path": path}
        tried.append(entry)
        log(f"  {method}, {len(keep)} layer(s) in float: {metric} {got:.2f} (drop {reference - got:.2f})")
        return entry

    best = min((variant(m, tuple(cal.get("keep_float") or ())) for m in METHODS), key=lambda e: e["drop"])
    chosen = best if best["drop"] <= budget else None
    if chosen is None:
        images = calib[:32]
        ranked = sorted(errors(best["path"], fp32, images, threads), key=lambda layer: layer.sqnr_db)
        base_keep = tuple(cal.get("keep_float") or ())
        for k in FLOAT_STEPS:
            if k > len(ranked):
                break
            entry = variant(best["method"], base_keep + tuple(layer.name for layer in ranked[:k]))
            best = min(best, entry, key=lambda e: e["drop"])
            if entry["drop"] <= budget:
                chosen = entry
                break
    final = chosen or best
    val = {"fp32": accuracy(fp32, cal["data"], eval_limit), "int8": accuracy(final["path"], cal["data"], eval_limit)}
    record = {"max_drop": max_drop, "metric": metric, "decided_on": f"{len(held)} held-out {cal['data']} training "
              "images", "resolution": round(100 / len(held), 3),  # points per image: the search cannot see less
              "fp32": round(reference, 3), "fits": chosen is not None,
              "tried": [{k: v for k, v in e.items() if k != "path"} for e in tried],
              "chosen": {k: v for k, v in final.items() if k != "path"},
              "val": {**{k: round(v, 3) for k, v in val.items()}, "drop": round(val["fp32"] - val["int8"], 3),
                      "images": eval_limit}}
    meta["calibration"] = {**cal, "method": final["method"], "keep_float": final["keep_float"], "search": record}
    source = final["path"]
    OnnxExporter().embed_metadata(source, json.dumps(meta), int8)
    return record


__all__ = ["search"]
