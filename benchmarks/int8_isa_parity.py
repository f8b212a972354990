"""int8 ONNX on three CPUs, whole val split: this host, an x86 CPU without VNNI, and a Raspberry Pi 4.

onnxruntime's x86 int8 kernels without VNNI (AVX2 ``vpmaddubsw``) add pairs of uint8 x int8 products in
saturating 16-bit sums; VNNI and ARM accumulate in 32 bits. This benchmark measures what that does to
accuracy, and whether ``edgecv export --reduce-range`` (7-bit weights: a pair stays below 2^15) makes all
three agree bit for bit. MobileNetV2 (shapes, 64 px) and yolo_n (shapes-det, 128 px), int8 ONNX, plain and
reduce-range (``--models`` adds LR-ASPP on shapes-seg, 128 px), each scored:

- on this host, natively (its ISA is printed);
- under ``qemu-x86_64 -cpu Haswell-v4``: an AVX2 CPU without VNNI, emulated, so the same onnxruntime build
  picks its AVX2 kernels (run on a VNNI machine, this is the "AVX2 host" of the comparison);
- on the emulated Raspberry Pi 4 (the aarch64 onnxruntime under qemu-aarch64).

qemu-x86_64-static comes from Debian's qemu-user-static package, fetched once into edgecv's cache like the
Pi's emulator. Integer results do not depend on load, so the figures are exact; the emulated runs take
minutes each. Results are saved in OUT/int8_isa_parity.json and a rerun skips what is done.

    python benchmarks/int8_isa_parity.py [--out exports/isa] [--limit N] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ALL_MODELS = (("mobilenet_v2", "shapes", 64, "top1"), ("yolo_n", "shapes-det", 128, "map50_95"),
              ("lraspp_mobilenet_v3_large", "shapes-seg", 128, "miou"))
PLACES = ("host", "avx2", "rpi4")
X86_CPU = "Haswell-v4"  # AVX2 + FMA, no AVX-512, no VNNI


def qemu_x86() -> Path:
    """qemu-x86_64-static from Debian's qemu-user-static, cached beside the Pi's qemu."""
    from edgecv.cache import cache_dir
    from edgecv.devices.debian import deb_data as _deb_data
    from edgecv.devices.debian import debian_index as _debian_index
    from edgecv.devices.debian import fetch_deb as _fetch_deb

    target = cache_dir("emulation") / "qemu" / "qemu-x86_64-static"
    if not target.is_file():
        entry = _debian_index("amd64", print)["qemu-user-static"]
        with _deb_data(_fetch_deb(entry)) as tar:
            blob = tar.extractfile(tar.getmember("./usr/bin/qemu-x86_64-static")).read()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(blob)
        tmp.chmod(0o755)
        tmp.rename(target)
    return target


def evaluate(job: tuple[str, str, int | None, str | None]) -> dict:
    path, place, limit, qemu = job
    t0 = time.perf_counter()
    if place == "avx2":  # the same interpreter and packages, on an emulated AVX2 CPU
        code = ("import json, sys; from edgecv.evaluate import evaluate_artifact; "
                f"print(json.dumps(evaluate_artifact({path!r}, threads=1, limit={limit!r})['metrics']))")
        out = subprocess.run([qemu, "-cpu", X86_CPU, sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
        if out.returncode != 0:
            raise RuntimeError(f"{path} under qemu-x86_64: {out.stderr.strip()[-500:]}")
        metrics = json.loads(out.stdout.strip().splitlines()[-1])
    else:
        from edgecv.evaluate import evaluate_artifact

        metrics = evaluate_artifact(path, device=place, threads=1, limit=limit)["metrics"]
    return {"artifact": path, "place": place, "limit": limit, "metrics": metrics,
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="exports/isa")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", default="mobilenet_v2,yolo_n",
                        help=f"Comma-separated, of: {', '.join(m[0] for m in ALL_MODELS)}.")
    args = parser.parse_args()
    models = [m for m in ALL_MODELS if m[0] in args.models.split(",")]

    import edgecv
    from edgecv.artifact import artifact_name
    from edgecv.devices import get_device
    from edgecv.devices.emulation import Emulator

    paths = []
    for model, data, size, _ in models:
        for variant, reduce in (("plain", False), ("reduce-range", True)):
            path = Path(args.out, variant, artifact_name(model, size, "int8", "onnx"))
            if not path.is_file():  # a rerun keeps the files its saved results were measured on
                edgecv.export(model, "onnx", "int8", data=data, imgsz=size, out=path.parent, parity_samples=0,
                              reduce_range=reduce, log=lambda m: None)
            paths.append(str(path))
    Emulator().ensure()
    qemu = str(qemu_x86())
    saved = Path(args.out, "int8_isa_parity.json")
    results = json.loads(saved.read_text()) if saved.is_file() else []
    done = {(r["artifact"], r["place"], r["limit"]) for r in results}
    jobs = [(p, w, args.limit, qemu) for p in paths for w in PLACES if (p, w, args.limit) not in done]
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for result in pool.map(evaluate, jobs):
            results.append(result)
            saved.write_text(json.dumps(results, indent=1))
            print(f"{result['artifact']} on {result['place']}: {result['metrics']} ({result['seconds']} s)", flush=True)
    by = {(r["artifact"], r["place"]): r for r in results if r["limit"] == args.limit}
    host = get_device("host")
    print(f"\nhost: {host.cpu}, ISA {' '.join(host.isa)}; avx2: qemu-x86_64 -cpu {X86_CPU}; rpi4: emulated Cortex-A72")
    print(f"{'artifact':42} {'metric':9} {'host':>9} {'avx2':>9} {'rpi4':>9} {'avx2-rpi4':>10} {'host=rpi4':>9} "
          f"{'avx2=rpi4':>9}")
    for p in paths:
        metric = next(m for model, _, _, m in models if Path(p).name.startswith(model))
        m = {w: by[(p, w)]["metrics"] for w in PLACES}
        name = f"{Path(p).parent.name}/{Path(p).name}"
        print(f"{name:42} {metric:9} {m['host'][metric]:9.4f} {m['avx2'][metric]:9.4f} {m['rpi4'][metric]:9.4f} "
              f"{m['avx2'][metric] - m['rpi4'][metric]:+10.4f} {'yes' if m['host'] == m['rpi4'] else 'no':>9} "
              f"{'yes' if m['avx2'] == m['rpi4'] else 'no':>9}")
    for model, _, size, metric in models:
        name = artifact_name(model, size, "int8", "onnx")
        plain, reduced = (by[(str(Path(args.out, v, name)), "rpi4")]["metrics"][metric]
                          for v in ("plain", "reduce-range"))
        print(f"{model}: --reduce-range costs {plain - reduced:+.4f} {metric} points on the board "
              f"({reduced:.4f} vs {plain:.4f})")
    images = {model: by[(str(Path(args.out, 'plain', artifact_name(model, size, 'int8', 'onnx'))), "host")]
              ["metrics"]["images"] for model, _, size, _ in models}
    print(f"val images: {images}")


if __name__ == "__main__":
    main()
