"""``edgecv export --precision int8 --max-drop D``: the int8 ONNX or TFLite file within an accuracy budget.

Cheapest first, on the runtime that will run the file (onnxruntime, LiteRT):

1. the calibration: each method the format's quantizer offers (``Exporter.calib_methods``: min/max, percentile,
   entropy for onnxruntime; min/max, percentile, ai-edge-quantizer's moving average for TFLite) on the same
   images, then each again on 4x the images (at most 1024), where ranges cover more of the rare activations;
2. mixed precision: the layers with the lowest SQNR (``edgecv layers``) kept in float, 1, 2, 4, 8, ... of them,
   until the drop fits. In TFLite every op is a candidate (hard-swish, squeeze-excite, residual additions), named
   by its PyTorch module: keeping a module in float keeps every op converted from it.

Layers are kept in float, not given int16 activations: on LiteRT's CPU kernels int16 is far slower than float
(MobileNetV2 at 224 on this AVX-512 machine: the 2 worst layers in int16 22.6 ms, in float 7.7 ms; the 8 worst
141 ms against 8.8 ms; all-int8 7.5 ms, fp32 15.2 ms). ``--int16`` offers it for runtimes where it pays.

The record also says what the chosen file costs in time: fp32, all-int8 and chosen latency, and for ONNX each
float layer's own kernel time against its int8 kernel (``cost.py``).

Every decision is made on a held-out slice of the training split (images the calibration did not use); the
val split is measured once, at the end, for the chosen file, so the reported number is not the tuned one.
A classifier's candidate fits when its drop plus one standard error of the paired difference (from the images
on which exactly one of fp32 and int8 is right) is within the budget: a drop measured on 2000 images is itself
that uncertain, and the val split does not see the same images. What was tried and chosen goes into the file's
metadata (``calibration.search``). If nothing fits, the best
variant found is written with its measured drop, and the caller exits non-zero.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..data.base import Dataset
from ..errors import UsageError

FLOAT_STEPS = (1, 2, 4, 8, 16, 32)
SLOW, GAIN = 0.9, 0.9  # try op types in float when int8 is >= 0.9x fp32; keep one that makes it >= 10% faster
MORE_IMAGES, MAX_IMAGES = 4, 1024  # the larger calibration set: 4x the export's, at most 1024 images


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


HOLDOUT = 2000  # deciding images: a 0.5-point budget is ~10 images of 2000 (with 500, MobileNetV3-Large's TFLite
#               int8 dropped 0.40 on them and 0.75 on val)


def search(int8: Path, fp32: Path, max_drop: float, holdout: int = HOLDOUT, eval_limit: int | None = None,
           threads: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Replace ``int8`` (an edgecv int8 ONNX file) by the fastest variant found within ``max_drop`` (a fraction:
    0.005 is half a point) of ``fp32``'s headline accuracy; return the search record (also in its metadata)."""
    with tempfile.TemporaryDirectory(prefix="edgecv-budget-") as work:
        return _Search(int8, fp32, holdout, threads, log, Path(work)).run(max_drop, eval_limit)


class _Search:
    """One search: the deciding images, the calibration images, and every candidate tried."""

    def __init__(self, int8: Path, fp32: Path, holdout: int, threads: int | None, log: Callable[[str], None],
                 work: Path) -> None:
        from ..artifact import read_metadata
        from ..data import get_dataset
        from ..metrics import HEADLINE
        from ..portable.preprocess import preprocess_batch
        from ..preprocess import Preprocess

        self.int8, self.fp32, self.threads, self.log, self.work = int8, fp32, threads, log, work
        self.meta = read_metadata(int8) or {}
        self.cal = self.meta.get("calibration") or {}
        if self.cal.get("split") != "train":
            raise UsageError(f"--max-drop decides on a held-out slice of the training split, and "
                             f"{self.cal.get('data')} has none")
        pre = Preprocess.from_dict(self.meta["preprocess"])
        train = get_dataset(self.cal["data"], "train", imgsz=pre.input_size)
        n = int(self.cal["images"])
        # load_images' own draw: its first n images are the export's calibration, its first `more` the larger
        # candidate's (so `calibration.images` reproduces either), and the held-out slice comes after both
        order = np.random.default_rng(0).permutation(len(train))
        more = min(MORE_IMAGES * n, MAX_IMAGES, max(n, len(train) - holdout))
        self.counts = (n, more) if more > n else (n,)
        held = sorted(int(i) for i in order[max(self.counts):max(self.counts) + holdout])
        if len(held) < 50:
            raise UsageError(f"--max-drop needs at least 50 training images beyond the {n} used to calibrate; "
                             "use fewer --calib-samples")
        self.decide = _Picked(train, held)
        self.layout = pre.layout
        calib, _ = preprocess_batch([train[int(i)][0] for i in sorted(order[:max(self.counts)])],  # NCHW, as the
                                    dataclasses.replace(pre, layout="NCHW"))  # exporters calibrate
        rank = {int(i): k for k, i in enumerate(sorted(order[:max(self.counts)]))}
        self.calibs = {c: calib[sorted(rank[int(i)] for i in order[:c])] for c in self.counts}
        self.calib = self.calibs[n]
        self.metric = HEADLINE[self.meta["task"]]
        self.tried: list[dict[str, Any]] = []
        self.reference_hits: list[bool] = []
        self.reference = self.accuracy(fp32, self.decide, hits=self.reference_hits)
        log(f"fp32 {self.metric} {self.reference:.2f} on {len(held)} held-out training images")

    def accuracy(self, path: Path, data: Any, limit: int | None = None, hits: list[bool] | None = None) -> float:
        from ..runtimes import load
        from ..scoring import score

        with load(path, threads=self.threads) as session:
            return score(session, data, limit, hits=hits)[self.metric]

    def margin(self, hits: list[bool]) -> float:
        """One standard error (points) of the drop, from the images on which exactly one of fp32 and the candidate
        is right (the paired difference); 0 for a detector, whose mAP does not split by image."""
        if not hits or len(hits) != len(self.reference_hits):
            return 0.0
        ref, got = np.array(self.reference_hits), np.array(hits)
        n, lost, won = len(ref), int(np.sum(ref & ~got)), int(np.sum(~ref & got))
        variance = (lost + won) / n - ((lost - won) / n) ** 2
        return 100 * float(np.sqrt(max(variance, 0.0) / n))

    def variant(self, method: str, keep: tuple[str, ...], images: int | None = None,
                float_ops: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """Quantize with ``method`` on ``images`` calibration images (default: the export's), ``keep`` in float and
        every op of the types in ``float_ops`` in float (or reuse the exported file), and measure the drop. Layers
        the export gave int16 activations keep them."""
        from .requantize import requantize

        cal, images = self.cal, images or self.counts[0]
        wide, exported_ops = tuple(cal.get("int16") or ()), tuple(cal.get("float_ops") or ())
        float_ops = tuple(dict.fromkeys(exported_ops + float_ops))  # the export's own float op types stay float
        if ((method, images) == (cal.get("method", "minmax"), self.counts[0]) and keep == tuple(cal.get("keep_float") or ())
                and float_ops == exported_ops):
            path = self.int8  # the file the export wrote
        else:
            try:
                name = f"{method}-{images}-{len(keep)}-{'+'.join(float_ops)}{self.int8.suffix}"
                path = requantize(self.fp32, self.work / name, self.meta, self.calibs[images], method, keep, wide,
                                  float_ops)
            except UsageError as exc:  # e.g. a histogram calibration this machine cannot hold: the next candidate
                self.log(f"  {method} on {images} images: skipped ({exc})")
                return None
        hits: list[bool] = []
        got = self.accuracy(path, self.decide, hits=hits)
        drop, se = self.reference - got, self.margin(hits)
        entry = {"method": method, "images": images, "keep_float": list(keep), "float_ops": list(float_ops),
                 self.metric: round(got, 3),
                 "drop": round(drop, 3), "se": round(se, 3), "bound": round(drop + se, 3), "path": path}
        self.tried.append(entry)
        ops = f", {'+'.join(float_ops)} ops in float" if float_ops else ""
        spread = f" ± {se:.2f}" if hits else ""  # a detector's mAP does not split by image: no standard error
        self.log(f"  {method} on {images} images, {len(keep)} layer(s) in float{ops}: {self.metric} {got:.2f} "
                 f"(drop {drop:.2f}{spread})")
        return entry

    def run(self, max_drop: float, eval_limit: int | None) -> dict[str, Any]:
        from ..exporters import get_exporter
        from ..formats import format_of
        from .layers import layer_errors

        budget, kept = 100 * max_drop, tuple(self.cal.get("keep_float") or ())
        methods = get_exporter(format_of(self.int8)).calib_methods  # what the file's quantizer offers
        best = min(filter(None, (self.variant(m, kept) for m in methods)), key=lambda e: e["bound"])
        for images in self.counts[1:]:  # more images: wider min/max ranges, better histograms
            if best["bound"] <= budget:
                break
            best = min([best, *filter(None, (self.variant(m, kept, images) for m in methods))], key=lambda e: e["bound"])
        plain, chosen = best, best if best["bound"] <= budget else None
        if chosen is None:  # mixed precision: the least faithful layers of the best calibration stay in float
            errors = layer_errors(best["path"], self.fp32, self._as_input(self.calib[:32]), self.threads, timed=False,
                                  every=True)
            ranked = list(dict.fromkeys(la.name for la in sorted(errors, key=lambda la: la.sqnr_db)))
            for k in (k for k in FLOAT_STEPS if k <= len(ranked)):
                entry = self.variant(best["method"], kept + tuple(ranked[:k]), best["images"])
                if entry is None:
                    break
                best = min(best, entry, key=lambda e: e["bound"])
                if entry["bound"] <= budget:
                    chosen = entry
                    break
        if chosen is not None:  # int8 that does not pay: op types whose int8 kernels are slower than float
            chosen = self.faster(chosen, budget)
        final, data = chosen or best, self.cal["data"]
        val = {"fp32": self.accuracy(self.fp32, data, eval_limit), "int8": self.accuracy(final["path"], data, eval_limit)}
        public = lambda e: {k: v for k, v in e.items() if k != "path"}  # noqa: E731
        record = {"max_drop": max_drop, "metric": self.metric,
                  "decided_on": f"{len(self.decide)} held-out {data} training images",
                  "resolution": round(100 / len(self.decide), 3),  # points per image: the search cannot see less
                  "rule": "drop + one standard error of the paired difference <= max_drop (a detector: drop alone)",
                  "fp32": round(self.reference, 3), "fits": chosen is not None,
                  "tried": [public(e) for e in self.tried], "chosen": public(final),
                  "val": {**{k: round(v, 3) for k, v in val.items()}, "drop": round(val["fp32"] - val["int8"], 3),
                          "images": eval_limit},
                  "latency": self.latency(final, plain)}
        meta = {**self.meta, "calibration": {**self.cal, "method": final["method"], "images": final["images"],
                                             "keep_float": final["keep_float"], "float_ops": final["float_ops"],
                                             "search": record}}
        get_exporter(format_of(self.int8)).embed_metadata(final["path"], json.dumps(meta), self.int8)
        return record

    def faster(self, chosen: dict[str, Any], budget: float) -> dict[str, Any]:
        """When the chosen file is not clearly faster than fp32 (>= ``SLOW`` of its latency), try each light op type
        it has (hard-swish, sigmoid, mul, add, mean, ...) in float, one type at a time on top of what was kept:
        a type stays in float when the file gets ``GAIN`` faster and still fits. MobileNetV3-Large's TFLite int8 ran
        at 1.0x fp32 in LiteRT, 0.41x with its hard-swish ops in float (XNNPACK delegates no int8 hard-swish, so
        each split its graph), and lost less accuracy."""
        from .cost import model_ms

        x = self._as_input(self.calib[:1])
        ms = model_ms({"fp32": self.fp32, "chosen": chosen["path"]}, x, self.threads)
        chosen["ms"] = ms["chosen"]
        if ms["chosen"] < SLOW * ms["fp32"]:
            return chosen
        self.log(f"  int8 {ms['chosen']:.3f} ms against fp32 {ms['fp32']:.3f} ms: trying op types in float")
        for op_type in light_op_types(chosen["path"]):
            if op_type in chosen["float_ops"]:
                continue
            entry = self.variant(chosen["method"], tuple(chosen["keep_float"]), chosen["images"],
                                 (*chosen["float_ops"], op_type))
            if entry is None:
                continue
            entry["ms"] = model_ms({"chosen": chosen["path"], "entry": entry["path"]}, x, self.threads)["entry"]
            self.log(f"    {op_type} in float: {entry['ms']:.3f} ms")
            if entry["ms"] <= GAIN * chosen["ms"] and entry["bound"] <= budget:
                chosen = entry
        return chosen

    def latency(self, final: dict[str, Any], plain: dict[str, Any]) -> dict[str, Any]:
        """What the chosen file costs in time against fp32 and the all-int8 file of its calibration, at batch 1
        on a calibration image; for ONNX also each float layer's own cost (kernels, from onnxruntime's profiler)."""
        from .cost import float_layer_ms, model_ms

        x = self._as_input(self.calib[:1])
        ms = model_ms({"fp32": self.fp32, "int8": plain["path"], "chosen": final["path"]}, x, self.threads)
        extra = [k for k in final["keep_float"] if k not in plain["keep_float"]]
        record: dict[str, Any] = {"ms": ms, "ratio_to_fp32": round(ms["chosen"] / ms["fp32"], 3)}
        if extra and self.int8.suffix == ".onnx":
            record["float_layer_ms"] = float_layer_ms(final["path"], plain["path"], extra,
                                                      self._as_input(self.calib[:8]), self.threads)
        self.log(f"  latency at batch 1: fp32 {ms['fp32']:.3f} ms, int8 {ms['int8']:.3f} ms, chosen {ms['chosen']:.3f} ms "
                 f"({record['ratio_to_fp32']:.2f}x fp32)")
        notes = []  # a kept file slower than a plainer one says why, never silently
        runtime = "onnxruntime" if self.int8.suffix == ".onnx" else "LiteRT"
        if ms["chosen"] > ms["fp32"]:
            notes.append(f"the chosen int8 file is slower than fp32 ({record['ratio_to_fp32']:.2f}x) on {runtime} here: "
                         "it is kept for its size within the accuracy budget; for speed ship fp32, or try another "
                         "runtime or --float-ops")
        if ms["chosen"] > SLOWER_THAN_PLAIN * ms["int8"] and final["path"] != plain["path"]:
            notes.append(f"the layers kept in float for accuracy cost {ms['chosen'] / ms['int8']:.2f}x the all-int8 "
                         f"file's time ({ms['int8']:.3f} ms), which misses the budget")
        if notes:
            record["notes"] = notes
            for note in notes:
                self.log(f"  note: {note}")
        for layer, cost in (record.get("float_layer_ms") or {}).items():
            self.log(f"    {layer} in float: {cost:+.4f} ms")
        return record

    def _as_input(self, images: np.ndarray) -> np.ndarray:
        """Calibration images (NCHW) in the file's own input layout."""
        return np.ascontiguousarray(images.transpose(0, 2, 3, 1)) if self.layout == "NHWC" else images


SLOWER_THAN_PLAIN = 1.05  # a searched file this much slower than the all-int8 one says so


def light_op_types(path: Path) -> list[str]:
    """The element-wise and pooling op types (``layers.LIGHT_OPS``) an int8 file has, most frequent first."""
    from collections import Counter

    from .layers import LIGHT_OPS, TFLITE_LIGHT_OPS

    if path.suffix == ".onnx":
        import onnx

        types = [n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node if n.op_type in LIGHT_OPS]
    else:
        from ..exporters.tflite import _ops

        types = [op for op, _, _ in _ops(path) if op in TFLITE_LIGHT_OPS]
    return [t for t, _ in Counter(types).most_common()]


__all__ = ["light_op_types", "search"]
