"""Whether a timing can be trusted, in the spirit of ``pyperf``'s checks.

While a cell is timed, ``Load`` reads the machine's busy CPU time (``/proc/stat``) and this process's own
CPU time: their difference is what *other* processes (and the hypervisor's steal) took from the cores,
measured over exactly the timed calls. The 1-minute load average before and after is recorded too, for the
reader. A row is ``unstable`` when its samples spread (p90/p50 above ``MAX_SPREAD``) or when the cell's
threads plus the others' use were more than the machine's cores.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .. import resources

MAX_SPREAD = 1.5  # p90 / p50
MIN_SAMPLES = 20  # fewer timed calls say nothing about their spread (p90 of 5 calls is their maximum)
MIN_OTHERS = 0.3  # cores taken by other processes before contention is called out
MIN_WINDOW_S = 0.25  # the busy-time counters tick every 10 ms: judge only windows long enough to mean something


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine, or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


class Load:
    """Started at construction; ``stop()`` returns ``{loadavg_before, loadavg_after, others_cores, cores}``."""

    def __init__(self) -> None:
        self.loadavg = _loadavg()
        self.ticks = _cpu_ticks()
        self.own = sum(os.times()[:2])
        self.wall = time.perf_counter()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall
        ticks, own = _cpu_ticks(), sum(os.times()[:2]) - self.own
        cores = resources.cores()
        others = None
        if self.ticks and ticks and wall >= MIN_WINDOW_S:  # shorter windows are all clock-tick rounding
            hz = os.sysconf("SC_CLK_TCK")
            busy_s = (ticks[0] - self.ticks[0]) / hz
            others = round(max(0.0, busy_s - own - 2.0 / hz) / wall, 2)  # two ticks of rounding allowed
        return {"loadavg_before": self.loadavg, "loadavg_after": _loadavg(), "others_cores": others, "cores": cores,
                "seconds": round(wall, 3)}


FREE_WINDOW_S = 0.4  # how long the machine is watched before a cell chooses its threads


def free_cores(window_s: float = FREE_WINDOW_S) -> tuple[int, float | None]:
    """``(threads, others)``: the cores other processes leave free, watched over ``window_s`` while this
    process sleeps (so all busy time is theirs), at least 1; and the cores they used (None off Linux).

    Why a profile's default threads follow this (benchmarks/busy_threads.py, 2-core AVX2 EPYC, one core kept
    busy by a hog): PyTorch at 2 threads 2.2-2.6x slower than at 1 (OpenMP threads wait on each other while one
    of them is descheduled; OMP_WAIT_POLICY=PASSIVE only 1.75x), onnxruntime 1.4-1.5x with or without spinning;
    a thread per free core is the best count for every runtime there, and all of them on a quiet machine."""
    n = resources.cores()
    before = _cpu_ticks()
    if before is None:
        return n, None
    start = time.perf_counter()
    time.sleep(window_s)
    after, wall = _cpu_ticks(), time.perf_counter() - start
    if after is None or wall <= 0:
        return n, None
    others = max(0.0, (after[0] - before[0]) / os.sysconf("SC_CLK_TCK") / wall)
    return max(1, n - int(others + 0.5)), round(others, 2)


def unstable_reasons(latency: dict[str, float], load: dict[str, Any] | None, threads: int | None) -> list[str]:
    """Why this row's timing should not be trusted (empty when it can be)."""
    reasons = []
    if latency.get("p50") and latency.get("n", 0) >= MIN_SAMPLES and latency["p90"] / latency["p50"] > MAX_SPREAD:
        reasons.append(f"spread: p90/p50 = {latency['p90'] / latency['p50']:.2f} (over {MAX_SPREAD})")
    if load and load.get("others_cores") is not None and load.get("cores"):
        others, cores = load["others_cores"], load["cores"]
        if others >= MIN_OTHERS and (threads or cores) + others > cores:
            reasons.append(f"busy machine: other processes used {others:.1f} of {cores} cores while it was timed")
    return reasons
