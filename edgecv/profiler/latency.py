"""Latency of an opened session, measured the way ``edgecv profile`` reports it.

The timed call is the runtime's own core call (``Session._infer``) on inputs converted to the model's dtypes
once, before timing, so input checks and quantization stay out of the numbers. A remote device (qemu or
SSH) times its loop itself (``RemoteSession.bench``), so transfers stay out too. Timing uses the device
script's ``time_calls``: the same loop on the host and on a board.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from ..devices.edgecv_device import time_calls
from ..runtimes.base import Session


def synthetic_inputs(session: Session, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Float inputs of the model's shape (dynamic dims: ``batch`` for the first, 1 elsewhere)."""
    rng = np.random.default_rng(seed)
    out = {}
    for info in session.inputs:
        shape = [(batch if k == 0 else 1) if d is None else d for k, d in enumerate(info.shape)]
        if np.issubdtype(info.dtype, np.integer) and not info.quantized:
            limits = np.iinfo(info.dtype)
            out[info.name] = rng.integers(max(limits.min, 0), min(limits.max, 255), shape, endpoint=True).astype(info.dtype)
        else:
            out[info.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def summarize(times_ms: list[float]) -> dict[str, float]:
    t = np.asarray(times_ms, np.float64)
    return {"p50": float(np.percentile(t, 50)), "p90": float(np.percentile(t, 90)),
            "p99": float(np.percentile(t, 99)), "mean": float(t.mean()), "std": float(t.std()),
            "min": float(t.min()), "n": int(len(t))}


def measure(session: Session, inputs: dict[str, np.ndarray] | None = None, warmup: int = 10, iters: int = 50,
            min_time_s: float = 1.0) -> dict[str, Any]:
    """First-call time, then ``warmup`` untimed calls and at least ``iters`` timed calls / ``min_time_s``.

    Returns ``{"first_ms", "latency_ms": {p50, p90, p99, mean, std, min, n}, "throughput_ips"}``; call it
    on a freshly opened session for a true first-call time."""
    inputs = inputs if inputs is not None else synthetic_inputs(session)
    feeds = session._feeds(inputs)  # converted once: dtype work is not the model's latency
    batch = len(next(iter(feeds.values()))) if feeds else 1
    bench = getattr(session, "bench", None)
    start = time.perf_counter()
    session._infer(feeds)
    first_ms = getattr(session, "last_infer_ms", None) or (time.perf_counter() - start) * 1e3  # device-timed
    if bench is not None:  # timed on the device itself
        times = bench(warmup, iters, min_time_s, inputs)
    else:
        core = session._infer
        times = time_calls(lambda: core(feeds), warmup, iters, min_time_s)
    latency = summarize(times)
    return {"first_ms": first_ms, "latency_ms": latency, "throughput_ips": batch * 1e3 / latency["mean"]}


def peak_memory_mb() -> float:
    """This process's peak resident memory so far (a profile cell runs in a process of its own)."""
    import resource  # POSIX only

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
