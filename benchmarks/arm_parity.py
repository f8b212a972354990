"""Does the emulated Raspberry Pi 4 score exactly what the host scores, on the whole val split?

Exports MobileNetV2 (shapes, 64 px) and yolo_n (shapes-det, 128 px) to ONNX and TFLite at fp32 and int8,
evaluates each artifact on the host (x86 onnxruntime / LiteRT) and on `rpi4` (the aarch64 builds of the same
versions under qemu with a Cortex-A72), and prints both scores side by side. Emulation is slow: the full
run takes about half an hour on 2 cores; --limit N evaluates the first N val images only.

With --reduce-range it also exports both models' int8 ONNX with 7-bit weights (``edgecv export
--reduce-range``, in OUT/reduce-range) and prints what that costs on the host against plain int8: on x86
without VNNI, plain int8 ONNX can differ from the board (saturating 16-bit sums), reduce-range must not.
The host's ISA is printed with the results: whether host and board can differ depends on it.

    python benchmarks/arm_parity.py [--out exports/arm] [--limit N] [--workers 2] [--reduce-range] [--host-only]
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
    return {"artifact": _name(path), "device": device, "limit": limit, "metrics": result["metrics"],
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="exports/arm")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reduce-range", action="store_true", help="Also int8 ONNX with 7-bit weights.")
    parser.add_argument("--only-onnx-int8", action="store_true", help="Only the int8 ONNX files (the ones that "
                        "can differ), plain and with --reduce-range.")
    args = parser.parse_args()
    args.reduce_range = args.reduce_range or args.only_onnx_int8

    import edgecv
    from edgecv.artifact import artifact_name

    paths = []
    for model, data, size, _ in MODELS:
        files = [Path(args.out, artifact_name(model, size, p, f)) for f in ("onnx", "tflite") for p in ("fp32", "int8")]
        if not all(f.is_file() for f in files):  # a rerun keeps the files its saved results were measured on
            edgecv.export(model, "onnx,tflite", "fp32,int8", data=data, imgsz=size, out=args.out, parity_samples=0,
                          log=lambda m: None)
        paths += [str(f) for f in files if not args.only_onnx_int8 or f.name.endswith("int8.onnx")]
        if args.reduce_range:
            reduced = Path(args.out, "reduce-range", artifact_name(model, size, "int8", "onnx"))
            if not reduced.is_file():
                edgecv.export(model, "onnx", "int8", data=data, imgsz=size, out=reduced.parent, parity_samples=0,
                              reduce_range=True, log=lambda m: None)
            paths.append(str(reduced))
    from edgecv.devices import get_device
    from edgecv.devices.emulation import Emulator

    Emulator().ensure()
    saved = Path(args.out, "arm_parity.json")  # results so far: a rerun skips them
    results = json.loads(saved.read_text()) if saved.is_file() else []
    done = {(_name(r["artifact"]), r["device"], r["limit"]) for r in results}
    jobs = [(p, d, args.limit) for p in paths for d in ("host", "rpi4") if (_name(p), d, args.limit) not in done]
    # spawn, not fork: the exporters leave JAX threads behind, and forking a threaded process can deadlock
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for result in pool.map(evaluate, jobs):
            results.append(result)
            saved.write_text(json.dumps(results, indent=1))
            print(f"{result['artifact']} on {result['device']}: {result['metrics']} ({result['seconds']} s)",
                  flush=True)
    results = [r for r in results if r["limit"] == args.limit]
    by = {(_name(r["artifact"]), r["device"]): r for r in results}
    print(f"{'artifact':43} {'metric':9} {'host':>9} {'rpi4 (emulated)':>16} {'|diff|':>8} {'bit-equal':>9} "
          f"{'emulated s':>10}")
    worst = 0.0
    for p in paths:
        name = _name(p)
        metric = next(m for model, _, _, m in MODELS if Path(name).name.startswith(model))
        host, pi = by[(name, "host")]["metrics"], by[(name, "rpi4")]["metrics"]
        diff = max(abs(host[k] - pi[k]) for k in host)
        worst = max(worst, diff)
        print(f"{name:43} {metric:9} {host[metric]:9.4f} {pi[metric]:16.4f} {diff:8.1e} "
              f"{'yes' if host == pi else 'no':>9} {by[(name, 'rpi4')]['seconds']:10.0f}")
    images = {m: by[(_name(p), "host")]["metrics"]["images"] for p in paths for m, *_ in MODELS
              if Path(p).name.startswith(m)}
    print(f"val images: {images}; largest metric difference host vs emulated rpi4: {worst:.1e} points")
    host = get_device("host")
    print(f"host: {host.cpu}, ISA {' '.join(host.isa)}; int8 ONNX can differ from ARM here: "
          f"{'yes (no VNNI)' if host.int8_saturates else 'no (VNNI)'}")
    for model, _, size, metric in MODELS if args.reduce_range else ():
        plain = by.get((artifact_name(model, size, "int8", "onnx"), "host"))
        reduced = by.get((f"reduce-range/{artifact_name(model, size, 'int8', 'onnx')}", "host"))
        if plain and reduced:
            cost = reduced["metrics"][metric] - plain["metrics"][metric]
            print(f"{model} int8 ONNX --reduce-range vs plain on the host: {metric} "
                  f"{reduced['metrics'][metric]:.4f} vs {plain['metrics'][metric]:.4f} ({cost:+.4f} points)")


def _name(path: str) -> str:
    """An artifact's name in the results; reduce-range files keep their folder, being named like the others."""
    p = Path(path)
    return f"reduce-range/{p.name}" if p.parent.name == "reduce-range" or path.startswith("reduce-range/") else p.name


if __name__ == "__main__":
    main()
