"""Latency of an opened session, measured the way ``edgecv profile`` reports it.

The timed call is the runtime's own core call on inputs prepared once, before timing (``Session.prepare``,
then ``Session.time``), so input checks and quantization stay out of the numbers. A remote device (qemu or
SSH) times its loop itself, so transfers stay out too. The loop is the portable core's ``time_calls``: the
same on the host and on a board.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..errors import UsageError
from ..portable.errors import DeviceError
from ..portable.shapes import concrete_shapes, synthetic_array
from ..runtimes.session import Session


def synthetic_inputs(session: Session, batch: int = 1, seed: int = 0, imgsz: Any = None,
                     overrides: dict[str, list[int]] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """Random inputs at the shapes the device script's ``concrete_shapes`` chooses (a dynamic batch is
    ``batch``; a dynamic height/width is ``imgsz``, else 640, said in the returned notes). Quantized inputs
    are float (the session quantizes them with the file's scale), other integer inputs are integers."""
    specs = [{"name": i.name, "shape": None if i.shape is None else list(i.shape), "dtype": str(i.dtype)}
             for i in session.inputs]
    try:
        shapes, notes = concrete_shapes(specs, imgsz, batch, overrides)
        rng = np.random.default_rng(seed)
        arrays = {i.name: synthetic_array(shapes[i.name], i.dtype, i.quantized, rng) for i in session.inputs}
    except DeviceError as exc:
        raise UsageError(str(exc)) from None
    return arrays, notes


def describe_inputs(session: Session, inputs: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """What was timed: ``[{name, shape, dtype}]`` with concrete shapes and the model's own dtypes."""
    return [{"name": i.name, "shape": list(inputs[i.name].shape), "dtype": str(i.dtype)} for i in session.inputs]


def summarize(times_ms: list[float]) -> dict[str, float]:
    t = np.asarray(times_ms, np.float64)
    return {"p50": float(np.percentile(t, 50)), "p90": float(np.percentile(t, 90)),
            "p99": float(np.percentile(t, 99)), "mean": float(t.mean()), "std": float(t.std()),
            "min": float(t.min()), "n": int(len(t))}


def measure(session: Session, inputs: dict[str, np.ndarray] | None = None, warmup: int = 10, iters: int = 50,
            min_time_s: float = 1.0) -> dict[str, Any]:
    """First-call time, then ``warmup`` untimed calls and at least ``iters`` timed calls / ``min_time_s``,
    through the session's public timing contract (``prepare`` once, then ``time``).

    Returns ``{"first_ms", "latency_ms": {p50, p90, p99, mean, std, min, n}, "throughput_ips"}``; call it
    on a freshly opened session for a true first-call time. ``throughput_ips`` is the batch over the p50 (the
    same statistic as the latency beside it: one slow call must not move one column and not the other)."""
    inputs = inputs if inputs is not None else synthetic_inputs(session)[0]
    feeds = session.prepare(inputs)  # converted once: dtype work is not the model's latency
    batch = len(next(iter(feeds.values()))) if feeds else 1
    first_ms, times = session.time(feeds, warmup, iters, min_time_s)
    latency = summarize(times)
    return {"first_ms": first_ms, "latency_ms": latency, "throughput_ips": batch * 1e3 / latency["p50"]}


def peak_memory_mb() -> float:
    """This process's peak resident memory so far (a profile cell runs in a process of its own).

    Linux: ``VmHWM``, the high-water mark of this process's own address space. ``ru_maxrss`` is not used
    there: Linux carries it over ``exec`` from the process that forked us, so every cell reported its
    parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10  # kB
    except (OSError, ValueError, IndexError):
        pass
    import resource  # POSIX only

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
