"""What do edgecv's Session and the profiler's timing loop add to the bare runtime call? Goal for both:
at most 3% + 50 us at the median.

For MobileNetV2 fp32 and int8, ONNX and TFLite, at 224 px (a real workload) and 64 px (a tiny one, where
a fixed cost shows most), it times in alternating rounds, on the very same loaded model:
  bare:    onnxruntime ``InferenceSession.run(None, {name: x})`` / LiteRT ``set_tensor; invoke; get_tensor``
  edgecv:  ``Session.run(x)`` (input checks, dtype handling, outputs by name)
and prints both medians, the ratio and the difference in microseconds. It then compares the per-call p50
of a bare timing loop with the p50 that ``edgecv.profiler.latency.measure`` reports for the same session.

    python benchmarks/session_overhead.py [--out exports/bench] [--rounds 7] [--iters 200] [FILE ...]

FILEs (any .onnx/.tflite, e.g. an Ultralytics or Keras export) are timed instead of the MobileNetV2 exports: a
file from another tool must cost no more to time through edgecv than edgecv's own (issue 26: 0.9-1.1x bare).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def per_call_us(fn, iters: int) -> float:
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="exports/bench")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("files", nargs="*", help="Time these model files instead of edgecv's exports.")
    args = parser.parse_args()

    import edgecv
    from edgecv.portable.timing import time_calls
    from edgecv.profiler.latency import measure, summarize

    print(f"{'artifact':32} {'bare us':>9} {'edgecv us':>10} {'ratio':>7} {'+us':>7}  within   "
          f"{'bare p50':>9} {'profiler p50':>12} {'ratio':>7}  within")
    worst = worst_profiler = 0.0
    from pathlib import Path
    from types import SimpleNamespace

    groups = [[SimpleNamespace(path=Path(f), format=Path(f).suffix[1:]) for f in args.files]] if args.files else (
        edgecv.export("mobilenet_v2", "onnx,tflite", "fp32,int8", data="shapes", imgsz=size, out=args.out,
                      parity_samples=0, log=lambda m: None) for size in (224, 64))
    for arts in groups:
        for art in arts:
            session = edgecv.load(art.path, threads=args.threads)
            stated = ((session.metadata or {}).get("preprocess") or {}).get("input_size") or 640
            shape = [1 if k == 0 and d is None else stated if d is None else d
                     for k, d in enumerate(session.inputs[0].shape)]
            rng, dtype = np.random.default_rng(0), session.inputs[0].dtype
            x = (rng.integers(0, 256, shape).astype(dtype) if np.issubdtype(dtype, np.integer)  # uint8 image input
                 else rng.standard_normal(shape).astype(np.float32))
            if art.format == "onnx":
                ort, feeds = session.session, {session.inputs[0].name: x}
                bare = lambda: ort.run(None, feeds)  # noqa: B023  (timed before the loop moves on)
            else:
                it = session.model.interpreter
                i_in, i_out = session.model._in_index[session.inputs[0].name], session.model._out_index

                def bare(it=it, i_in=i_in, i_out=i_out, x=x):  # bound now: timed before the loop moves on
                    it.set_tensor(i_in, x)
                    it.invoke()
                    return [it.get_tensor(i) for i in i_out]
            wrapped = lambda: session.run(x)  # noqa: B023
            for _ in range(20):
                bare(), wrapped()
            b, w = [], []
            for _ in range(args.rounds):
                b.append(per_call_us(bare, args.iters))
                w.append(per_call_us(wrapped, args.iters))
            bm, wm = statistics.median(b), statistics.median(w)
            ok = wm <= bm * 1.03 + 50
            worst = max(worst, wm / bm)
            bare_p50, prof_p50 = [], []
            for _ in range(3):
                bare_p50.append(summarize(time_calls(bare, 10, args.iters))["p50"] * 1e3)
                prof_p50.append(measure(session, {session.inputs[0].name: x}, 10, args.iters, 0.0)
                                ["latency_ms"]["p50"] * 1e3)
            bp, pp = statistics.median(bare_p50), statistics.median(prof_p50)
            worst_profiler = max(worst_profiler, pp / bp)
            print(f"{art.path.name:32} {bm:9.1f} {wm:10.1f} {wm / bm:7.3f} {wm - bm:7.1f}  {'yes' if ok else 'NO':6} "
                  f"{bp:9.1f} {pp:12.1f} {pp / bp:7.3f}  {'yes' if pp <= bp * 1.03 + 50 else 'NO'}")
    print(f"worst ratio: Session {worst:.3f}, profiler loop {worst_profiler:.3f}")


if __name__ == "__main__":
    main()
