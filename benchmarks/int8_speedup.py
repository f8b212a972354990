"""int8 vs fp32 latency of edgecv's exports with the bare runtimes (plain onnxruntime, plain ai_edge_litert).

    python benchmarks/int8_speedup.py [--models mobilenet_v2,efficientnet_b0] [--imgsz 224] [--threads 2]

Exports each model at fp32 and int8 (calibrated on the built-in images of its task: `shapes`, `shapes-det` or
`shapes-seg`, at the same size), then
times batch-1 inference on this CPU. fp32 and int8 sessions are timed in alternating rounds and the
medians compared, so a drifting machine load hits both alike. Prints one ratio per model and runtime;
the goal for MobileNetV2 and EfficientNet-B0 at 224 is int8 <= 0.6x fp32.

With ``--searched DIR`` it also times the choice that ``edgecv export --max-drop`` made for each model and
format (the int8 files under DIR: their float layers and float op types, with min/max ranges), exported again at
``--imgsz``: the search decides on the data at the weights' own size; this measures what that choice costs at the
benchmark's size.

With ``--max-drop D`` it also times the file ``edgecv export --max-drop D`` chooses, for both formats
(calibration and layers kept in float, searched on ``--holdout`` held-out shapes images at the same size), in
the same alternating rounds, so the cost of the kept float layers shows as the ratio's change.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

BUILTIN_DATA = {"classification": "shapes", "detection": "shapes-det", "segmentation": "shapes-seg"}


def ort_runner(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal([d if isinstance(d, int) else 1 for d in inp.shape]).astype(np.float32)
    return lambda: session.run(None, {inp.name: x})


def litert_runner(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    d = interp.get_input_details()[0]
    x = np.random.default_rng(0).standard_normal(d["shape"]).astype(np.float32)
    if d["dtype"] != np.float32:
        x = np.clip(np.round(x / d["quantization"][0]) + d["quantization"][1], -128, 127).astype(d["dtype"])

    def run():
        interp.set_tensor(d["index"], x)
        interp.invoke()

    return run


def median_ms(runners: dict, rounds: int, per_round: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in runners}
    for run in runners.values():
        for _ in range(10):
            run()
    for _ in range(rounds):
        for key, run in runners.items():
            for _ in range(per_round):
                t = time.perf_counter()
                run()
                times[key].append(time.perf_counter() - t)
    return {k: 1e3 * float(np.median(v)) for k, v in times.items()}


def _searched(folder: Path, model: str, fmt: str) -> dict | None:
    """The metadata of the int8 file of ``model`` in ``fmt`` that an ``edgecv export --max-drop`` wrote under
    ``folder`` (None if there is none)."""
    from edgecv.artifact import read_metadata
    from edgecv.formats import suffix_of

    for path in sorted(folder.rglob(f"{model}-*-int8{suffix_of(fmt)}")):
        meta = read_metadata(path) or {}
        if (meta.get("calibration") or {}).get("search"):
            return meta
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2,efficientnet_b0,efficientnet_lite0")
    parser.add_argument("--formats", default="onnx,tflite")
    parser.add_argument("--imgsz", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--calib-samples", type=int, default=128)
    parser.add_argument("--max-drop", type=float, help="Also time the int8 variant searched within this drop.")
    parser.add_argument("--holdout", type=int, default=500, help="With --max-drop: images the search decides on "
                        "(held-out training images), and val images it reports.")
    parser.add_argument("--searched", type=Path, help="Also time, at --imgsz, the choice an `edgecv export --max-drop` "
                        "made (at its own size) for each model and format: int8 files under this folder.")
    args = parser.parse_args()
    if args.max_drop is not None and args.searched:
        parser.error("--max-drop searches here; --searched reuses a search made before: one or the other")
    logging.disable(logging.WARNING)

    import edgecv

    runners = {"onnx": ("onnxruntime", ort_runner), "tflite": ("LiteRT", litert_runner)}
    print(f"batch 1, {args.imgsz}x{args.imgsz}, {args.threads} threads, median of "
          f"{args.rounds}x{args.per_round} runs (fp32 and int8 alternating)")
    budget = args.max_drop is not None or args.searched is not None
    print(f"{'model':20s} {'runtime':12s} {'fp32 ms':>8s} {'int8 ms':>8s} {'int8/fp32':>9s}"
          + (f" {'budget ms':>9s} {'budget/fp32':>11s}  chosen" if budget else ""))
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            data = BUILTIN_DATA[edgecv.get_card(model).task]  # calibration images of the model's own kind
            for fmt in args.formats.split(","):
                arts = edgecv.export(model, fmt, "fp32,int8", data=data, imgsz=args.imgsz, out=tmp,
                                     calib_samples=args.calib_samples, parity_samples=0)
                name, make = runners[fmt]
                paths = {a.precision: a.path for a in arts}
                chosen = ""
                recipe = _searched(args.searched, model, fmt) if args.searched else None
                if recipe:  # the search's choice, made at its size, applied at this one
                    cal = recipe["calibration"]
                    # its float layers, with min/max ranges: the calibration method changes the scales, not the
                    # kernels, and a histogram calibration at 224 px may not fit in memory (B0, 256 images: 24 GB)
                    (art,) = edgecv.export(model, fmt, "int8", data=data, imgsz=args.imgsz, out=Path(tmp) / "searched",
                                           calib_samples=args.calib_samples, keep_float=cal["keep_float"],
                                           float_ops=cal.get("float_ops") or (), parity_samples=0)
                    paths["budget"] = art.path
                    val = cal["search"]["val"]
                    ops = "".join(f", {t} in float" for t in cal.get("float_ops") or ())
                    chosen = (f"{cal['method']} on {cal['images']}, {len(cal['keep_float'])} float layers{ops} (searched at "
                              f"{recipe['preprocess']['input_size']} px: val drop {val['drop']:.2f}"
                              + ("" if cal["search"]["fits"] else ", does not fit") + ")")
                elif args.max_drop is not None:
                    import shutil

                    from edgecv.quant.budget import search

                    paths["budget"] = paths["int8"].with_name(paths["int8"].stem + "-budget" + paths["int8"].suffix)
                    shutil.copyfile(paths["int8"], paths["budget"])
                    record = search(paths["budget"], paths["fp32"], args.max_drop, holdout=args.holdout,
                                    eval_limit=args.holdout, log=lambda m: None)
                    c = record["chosen"]
                    chosen = (f"{c['method']} on {c['images']}, {len(c['keep_float'])} float layers, "
                              f"val drop {record['val']['drop']:.2f}" + ("" if record["fits"] else " (does not fit)"))
                ms = median_ms({p: make(path, args.threads) for p, path in paths.items()}, args.rounds, args.per_round)
                line = f"{model:20s} {name:12s} {ms['fp32']:8.2f} {ms['int8']:8.2f} {ms['int8'] / ms['fp32']:8.2f}x"
                if "budget" in ms:
                    line += f" {ms['budget']:9.2f} {ms['budget'] / ms['fp32']:10.2f}x  {chosen}"
                print(line, flush=True)


if __name__ == "__main__":
    main()
