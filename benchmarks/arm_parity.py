"""Does the emulated Raspberry Pi 4 score exactly what the host scores, on the whole val split?

Exports MobileNetV2 (shapes, 64 px) and yolo_n (shapes-det, 128 px) to ONNX and TFLite at fp32 and int8,
evaluates each artifact on the host (x86 onnxruntime / LiteRT) and on `rpi4` (the aarch64 builds of the same
versions under qemu with a Cortex-A72), and prints both scores side by side. Emulation is slow: the full
run takes about half an hour on 2 cores; --limit N evaluates the first N val images only.

    python benchmarks/arm_parity.py [--out exports/arm] [--limit N] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MODELS = (("mobilenet_v2", "shapes", 64, "top1"), ("yolo_n", "shapes-det", 128, "map50_95"))


def evaluate(args: tuple[str, str, int | None]) -> dict:
    from edgecv.evaluate import evaluate_artifact

    path, device, limit = args
    t0 = time.perf_counter()
    result = evaluate_artifact(path, device=device, threads=1, limit=limit)
    return {"artifact": Path(path).name, "device": device, "limit": limit, "metrics": result["metrics"],
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="exports/arm")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import edgecv

    from edgecv.artifact import artifact_name

    paths = []
    for model, data, size, _ in MODELS:
        files = [Path(args.out, artifact_name(model, size, p, f)) for f in ("onnx", "tflite") for p in ("fp32", "int8")]
        if not all(f.is_file() for f in files):  # a rerun keeps the files its saved results were measured on
            edgecv.export(model, "onnx,tflite", "fp32,int8", data=data, imgsz=size, out=args.out, parity_samples=0,
                          log=lambda m: None)
        paths += [str(f) for f in files]
    from edgecv.runtimes.emulated import Emulator

    Emulator().ensure()
    saved = Path(args.out, "arm_parity.json")  # results so far: a rerun skips them
    results = json.loads(saved.read_text()) if saved.is_file() else []
    done = {(r["artifact"], r["device"], r["limit"]) for r in results}
    jobs = [(p, d, args.limit) for p in paths for d in ("host", "rpi4") if (Path(p).name, d, args.limit) not in done]
    # spawn, not fork: the exporters leave JAX threads behind, and forking a threaded process can deadlock
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for result in pool.map(evaluate, jobs):
            results.append(result)
            saved.write_text(json.dumps(results, indent=1))
            print(f"{result['artifact']} on {result['device']}: {result['metrics']} ({result['seconds']} s)",
                  flush=True)
    results = [r for r in results if r["limit"] == args.limit]
    by = {(r["artifact"], r["device"]): r for r in results}
    print(f"{'artifact':30} {'metric':9} {'host':>9} {'rpi4 (emulated)':>16} {'|diff|':>8} {'bit-equal':>9} "
          f"{'emulated s':>10}")
    worst = 0.0
    for p in paths:
        name = Path(p).name
        metric = next(m for model, _, _, m in MODELS if name.startswith(model))
        host, pi = by[(name, "host")]["metrics"], by[(name, "rpi4")]["metrics"]
        diff = max(abs(host[k] - pi[k]) for k in host)
        worst = max(worst, diff)
        print(f"{name:30} {metric:9} {host[metric]:9.4f} {pi[metric]:16.4f} {diff:8.1e} "
              f"{'yes' if host == pi else 'no':>9} {by[(name, 'rpi4')]['seconds']:10.0f}")
    images = {m: by[(Path(p).name, "host")]["metrics"]["images"] for p in paths for m, *_ in MODELS
              if Path(p).name.startswith(m)}
    print(f"val images: {images}; largest metric difference host vs emulated rpi4: {worst:.1e} points")


if __name__ == "__main__":
    main()
