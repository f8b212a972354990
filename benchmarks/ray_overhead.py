"""What running a profile's cells on Ray costs and gains, against the local executor, in one run.

    python benchmarks/ray_overhead.py [--models mobilenet_v2] [--imgsz 64] [--threads 1] [--workers 2]

Exports the models once (ONNX and TFLite, fp32 and int8), then profiles the same files three times:

- ``local``: here, one cell after another (the default executor);
- ``ray x1``: on a local Ray cluster (``ray.cluster_utils.Cluster``) with one worker node of ``--threads`` CPUs,
  so cells still run one at a time: (its wall time - local's) / cells is the per-cell overhead of Ray (the
  task, shipping the file through the object store, writing it on the worker);
- ``ray xN``: the same with ``--workers`` nodes, cells in parallel.

The head node gets no CPUs, so every cell runs on a worker. Cluster start-up is timed separately: it is paid
once per session, not per profile. Prints the wall times, the per-cell overhead and the accuracy of every row
on both executors (they must agree).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path


def _profile(files: Path, out: Path, executor: str, args) -> tuple[float, dict]:
    import edgecv

    start = time.perf_counter()
    report = edgecv.profile([str(files)], out=out, executor=executor, threads=args.threads, iters=args.iters,
                            warmup=2, min_time_s=args.min_time, limit=args.limit, log=lambda m: None)
    return time.perf_counter() - start, report


def _cluster(workers: int, threads: int):
    import ray
    from ray.cluster_utils import Cluster

    start = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 100 * 2**20})
    for _ in range(workers):
        cluster.add_node(num_cpus=threads, object_store_memory=100 * 2**20)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    cluster.wait_for_nodes()
    return cluster, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2")
    parser.add_argument("--imgsz", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--limit", type=int, default=200, help="Val images scored per cell.")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    import ray

    import edgecv

    with tempfile.TemporaryDirectory(prefix="edgecv-ray-bench-") as tmp:
        work = Path(tmp)
        files = work / "files"
        for model in args.models.split(","):
            for art in edgecv.export(model, "onnx,tflite", "fp32,int8", imgsz=args.imgsz, out=work / "exports",
                                     parity_samples=0):
                files.mkdir(exist_ok=True)
                shutil.copy(art.path, files)
        cells = len(list(files.iterdir()))
        local_s, local = _profile(files, work / "local", "local", args)
        results = {"local": (local_s, local)}
        for workers in sorted({1, args.workers}):
            cluster, startup_s = _cluster(workers, args.threads)
            try:
                results[f"ray x{workers}"] = _profile(files, work / f"ray{workers}", "ray", args)
            finally:
                ray.shutdown()
                cluster.shutdown()
            print(f"cluster start-up with {workers} worker node(s): {startup_s:.1f} s (once per session)")
        print(f"{cells} cells ({args.models}, {args.imgsz} px, ONNX + TFLite, fp32 + int8), {args.threads} thread(s) "
              f"per cell, {args.limit} val images each")
        print(f"{'executor':10s} {'wall s':>7s} {'vs local':>8s} {'nodes used':>10s}")
        for name, (wall, report) in results.items():
            nodes = {(r.get("node") or {}).get("ray_node_id") or (r.get("node") or {}).get("hostname") for r in report["rows"]}
            print(f"{name:10s} {wall:7.1f} {wall / local_s:7.2f}x {len(nodes):10d}")
        one = results["ray x1"][0]
        print(f"per-cell overhead of Ray (ray x1 - local) / cells: {(one - local_s) / cells:+.2f} s")
        accuracy = {name: sorted((r["format"], r["precision"], r.get("top1") or r.get("map50_95"))
                                 for r in report["rows"]) for name, (_, report) in results.items()}
        same = all(a == accuracy["local"] for a in accuracy.values())
        print("accuracy of every row equal on every executor:", "yes" if same else f"NO: {accuracy}")


if __name__ == "__main__":
    main()
