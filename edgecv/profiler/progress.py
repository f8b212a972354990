"""Progress of a profile on stderr: a live bar on a terminal; with output redirected (CI logs), one line per
finished cell with the elapsed time and an estimate of what is left, so a long run never goes quiet.

The estimate is per runtime: each cell still to run is expected to take what the finished cells of its runtime
took (their own seconds, so the GEMM peak measured after the first row is not counted as a cell's), and cells
of a runtime none has finished yet what the finished cells took on average. A first PyTorch cell (timing, then
scoring in PyTorch) extrapolated over every ONNX and TFLite cell once said 1:23:45 for an 18-minute run."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .row import Row


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, stream=None) -> None:
        from rich.console import Console

        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream)
        self.live = self.console.is_terminal
        self.bar = None
        self.started = time.perf_counter()
        self.waiting: list[str] = []  # the runtime of each cell not finished yet
        self.took: dict[str, list[float]] = {}  # runtime -> seconds of its finished cells

    def start(self, n: int, runtimes: list[str] | None = None) -> None:
        self.started = time.perf_counter()
        self.waiting = list(runtimes or [])
        if self.live and n:
            from rich.progress import Progress as Bar

            self.bar = Bar(console=self.console, transient=True)
            self.task = self.bar.add_task("profiling", total=n)
            self.bar.start()
        elif n:
            self._line(f"edgecv: measuring {n} cell{'s' if n != 1 else ''}, each in its own process")

    def advance(self, row: Row, k: int, n: int) -> None:
        what = f"{row.describe()} on {row.runtime}"
        if row.device != "host":
            what += f" ({row.device})"
        if row.ok:
            outcome = f"ok, p50 {row.p50:.3f} ms" if row.p50 is not None else "ok"
            if row.unstable:
                outcome += " (unstable)"
        else:
            outcome = f"failed: {row.error}"
        if self.bar is not None:
            self.bar.update(self.task, completed=k, description=what)
            if not row.ok:
                self.bar.console.print(f"{what}: {outcome}", markup=False, highlight=False)
            return
        elapsed = time.perf_counter() - self.started
        left = self.left(row, elapsed, k, n)
        self._line(f"edgecv: [{k}/{n}] {what}: {outcome} ({_clock(elapsed)} elapsed, about {_clock(left)} left)")

    def left(self, row: Row, elapsed: float, k: int, n: int) -> float:
        """Seconds still to go after ``row``, the ``k``-th of ``n``, finished."""
        if row.runtime in self.waiting:
            self.waiting.remove(row.runtime)
        self.took.setdefault(row.runtime, []).append(row.seconds if row.seconds is not None else elapsed / k)
        if not self.waiting:  # no runtimes given: the plain average
            return elapsed / k * (n - k)
        every = [s for took in self.took.values() for s in took]
        overall = sum(every) / len(every)
        return sum(sum(self.took[r]) / len(self.took[r]) if r in self.took else overall for r in self.waiting)

    def stop(self) -> None:
        if self.bar is not None and self.bar.live.is_started:
            self.bar.stop()

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
