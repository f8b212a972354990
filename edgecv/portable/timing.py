"""The timing loop: the same on the host and on a board."""

from __future__ import annotations

import time


def time_calls(fn, warmup: int, iters: int, min_time_s: float = 0.0) -> list[float]:
    """Milliseconds per call after ``warmup`` untimed calls; at least ``iters`` calls and ``min_time_s``."""
    for _ in range(warmup):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < iters or time.perf_counter() - start < min_time_s:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times
