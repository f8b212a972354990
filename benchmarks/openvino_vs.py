"""OpenVINO beside edgecv's other rows, in one run (issue 28), and edgecv's OpenVINO timing beside a bare loop.

    python benchmarks/openvino_vs.py [--models mobilenet_v2,efficientnet_b0,efficientnet_lite0,yolo_n]
                                     [--imgsz 224] [--threads 2] [--seconds 3] [--rounds 3] [--no-tflite]

Exports each model (default weights; int8 calibrated on the built-in images of its task) to ONNX, TFLite and
OpenVINO IR at fp32 and int8, then times batch-1 inference through edgecv's sessions exactly as a profile cell
does (``profiler.latency.measure``): onnxruntime and LiteRT on their files, OpenVINO on the ONNX files and on the
IR. Every configuration is timed in alternating rounds and the medians of the rounds' p50s compared, so a drifting
load hits all alike. Prints per model: each p50, what OpenVINO computed in, the best OpenVINO row over the best
other row (the goal on an Intel CPU with VNNI/AMX: <= 0.85 for MobileNetV2, Lite0 and yolo_n), any int8 row
slower than its fp32 twin, and edgecv's OpenVINO p50 over ``benchmark_app`` (one stream, the same threads,
sync API: what the latency hint compiles) on the same file, also once per round (the goal: <= 1.05). The CPU
and its ISA head the output: the ratios depend on them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BUILTIN_DATA = {"classification": "shapes", "detection": "shapes-det", "segmentation": "shapes-seg"}


def bare_openvino_ms(path: Path, threads: int, seconds: float) -> float | None:
    """OpenVINO's own benchmark_app median latency (sync API, one stream of ``threads``) on ``path``: the peer figure."""
    app = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    if not Path(app).exists():
        return None
    env = {**os.environ, "CI": "true"}  # openvino's telemetry stays off in CI mode
    # benchmark_app takes -nthreads only with -hint none; one stream of N threads is what the latency hint compiles
    out = subprocess.run([app, "-m", str(path), "-d", "CPU", "-hint", "none", "-nstreams", "1", "-api", "sync",
                          "-nthreads", str(threads), "-t", str(max(1, round(seconds)))], capture_output=True, text=True,
                         env=env)
    found = re.search(r"Median:\s+([0-9.]+) ms", out.stdout)
    return float(found.group(1)) if found else None


def time_once(path: Path, runtime: str, threads: int, seconds: float) -> tuple[float, str | None]:
    import edgecv
    from edgecv.profiler.latency import measure, synthetic_inputs

    with edgecv.load(path, runtime, threads=threads) as session:
        inputs, _ = synthetic_inputs(session, 1)
        timing = measure(session, inputs, warmup=10, iters=30, min_time_s=seconds)
        return timing["latency_ms"]["p50"], (session.execution or {}).get("precision")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2,efficientnet_b0,efficientnet_lite0,yolo_n")
    parser.add_argument("--imgsz", type=int, default=224, help="classifiers; yolo_n takes 320 unless --yolo-imgsz")
    parser.add_argument("--yolo-imgsz", type=int, default=320)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-tflite", action="store_true")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    import edgecv
    from edgecv.devices import get_device
    from edgecv.portable.engines import import_openvino

    host = get_device("host")
    print(f"CPU: {host.cpu} ({host.arch}; ISA {', '.join(host.isa)}), {args.threads} threads, OpenVINO "
          f"{import_openvino().get_version()}, batch 1")
    formats = ["onnx", "openvino"] + ([] if args.no_tflite else ["tflite"])
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            card = edgecv.get_card(model)
            size = args.yolo_imgsz if card.task == "detection" else args.imgsz
            arts = edgecv.export(model, formats, "fp32,int8", data=BUILTIN_DATA[card.task], imgsz=size,
                                 out=Path(tmp) / model, calib_samples=128, parity_samples=0, threads=args.threads)
            files = {(a.format, a.precision): a.path for a in arts}
            configs = [(f"ORT {p}", files[("onnx", p)], "onnxruntime") for p in ("fp32", "int8")]
            if not args.no_tflite:
                configs += [(f"LiteRT {p}", files[("tflite", p)], "litert") for p in ("fp32", "int8")]
            configs += [(f"OpenVINO on ONNX {p}", files[("onnx", p)], "openvino") for p in ("fp32", "int8")]
            configs += [(f"OpenVINO on IR {p}", files[("openvino", p)], "openvino") for p in ("fp32", "int8")]
            p50s: dict[str, list[float]] = {name: [] for name, _, _ in configs}
            computes: dict[str, str | None] = {}
            bares: dict[str, list[float]] = {"fp32": [], "int8": []}
            for _ in range(args.rounds):  # every configuration, the bare loop included, once per round
                for name, path, runtime in configs:
                    ms, compute = time_once(path, runtime, args.threads, args.seconds)
                    p50s[name].append(ms)
                    computes[name] = compute
                for p in bares:
                    ms = bare_openvino_ms(files[("openvino", p)], args.threads, args.seconds)
                    if ms is not None:
                        bares[p].append(ms)
            med = {name: statistics.median(v) for name, v in p50s.items()}
            bare = {p: statistics.median(v) if v else None for p, v in bares.items()}
            ov = {k: v for k, v in med.items() if k.startswith("OpenVINO")}
            others = {k: v for k, v in med.items() if not k.startswith("OpenVINO")}
            best_ov, best_other = min(ov, key=ov.get), min(others, key=others.get)
            print(f"\n{model} at {size} px (p50 ms, median of {args.rounds} rounds)")
            for name, value in med.items():
                compute = f"  [computed in {computes[name]}]" if computes.get(name) else ""
                print(f"  {name:<22} {value:8.3f}{compute}")
            print(f"  best OpenVINO / best other: {ov[best_ov] / others[best_other]:.2f} "
                  f"({best_ov} {ov[best_ov]:.3f} vs {best_other} {others[best_other]:.3f})")
            for runtime in ("ORT", "LiteRT", "OpenVINO on ONNX", "OpenVINO on IR"):
                if f"{runtime} int8" in med and med[f"{runtime} int8"] >= med[f"{runtime} fp32"]:
                    print(f"  int8 does not pay on {runtime}: {med[f'{runtime} int8'] / med[f'{runtime} fp32']:.2f}x fp32")
            for p in ("fp32", "int8"):
                if bare[p]:
                    print(f"  edgecv OpenVINO IR {p} / benchmark_app: {med[f'OpenVINO on IR {p}'] / bare[p]:.3f} "
                          f"({med[f'OpenVINO on IR {p}']:.3f} vs {bare[p]:.3f} ms)")
            results[model] = {"imgsz": size, "p50_ms": med, "computed_in": computes, "benchmark_app_ms": bare}
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": host.cpu, "isa": host.isa, "threads": args.threads,
                                               "models": results}, indent=1))


if __name__ == "__main__":
    main()
