"""A session whose model runs in another process -- under qemu, or on a board over SSH -- driven through
the standalone device script's ``serve`` protocol (framed JSON + .npy on stdin/stdout).

The device reports its own inference time for every call (``last_infer_ms``) and can time a loop of
calls itself (``bench``), so transfer time never counts as the model's latency.
"""

from __future__ import annotations

import io
import select
import subprocess
import tempfile
from typing import Any

import numpy as np

from ..errors import EdgecvError
from ..portable.protocol import read_frame, write_frame
from .session import Session, TensorInfo


class RemoteSession(Session):
    """Calls and timing happen on the device: ``time`` runs the timing loop there, ``last_infer_ms`` is what
    the device measured. ``timeout_s`` bounds the wait for each reply (start-up included): a device that hangs is killed and
    reported instead of blocking the caller forever."""

    def __init__(self, argv: list[str], env: dict[str, str] | None, where: str, timeout_s: float = 900.0) -> None:
        self.where, self.timeout_s = where, timeout_s
        self._stderr = tempfile.TemporaryFile()
        try:
            # Unbuffered, so select() sees exactly what has arrived; writes go through a buffer of our own.
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                         env=env, bufsize=0)
        except OSError as exc:
            raise EdgecvError(f"cannot start {argv[0]} for {where}: {exc}") from None
        self._in = io.BufferedWriter(self.proc.stdin)
        header, _ = self._receive("start")
        self.inputs = [TensorInfo.from_spec(s) for s in header["inputs"]]
        self.outputs = [TensorInfo.from_spec(s) for s in header["outputs"]]
        self.init_ms = float(header["init_ms"])
        self.environment: dict[str, Any] = header["environment"]
        self.timed_on_device = True

    def _receive(self, what: str) -> tuple[dict, list]:
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout_s)
        if not ready:
            self.proc.kill()
            raise EdgecvError(f"{self.where}: no reply within {self.timeout_s:.0f} s during {what}; the device "
                              "process was stopped")
        try:
            header, arrays = read_frame(self.proc.stdout)
        except (EOFError, ValueError, OSError) as exc:
            raise EdgecvError(f"{self.where}: the device process ended during {what} ({self._stderr_tail() or exc})"
                              ) from None
        if not header.get("ok"):
            raise EdgecvError(f"{self.where}: {header.get('error', 'failed')}")
        return header, arrays

    def _stderr_tail(self) -> str:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1].strip() if lines else ""

    def _send(self, header: dict, arrays: list | None = None) -> None:
        try:
            write_frame(self._in, header, arrays)
        except (BrokenPipeError, OSError):
            raise EdgecvError(f"{self.where}: the device process has ended ({self._stderr_tail()})") from None

    def _infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self._send({"op": "run", "names": list(feeds)}, list(feeds.values()))
        header, arrays = self._receive("inference")
        self.last_infer_ms = float(header["infer_ms"])
        return arrays

    def time(self, feeds: dict[str, np.ndarray], warmup: int = 10, iters: int = 50,
             min_time_s: float = 0.0) -> tuple[float, list[float]]:
        """The first call and the timing loop, both timed by the device itself (transfers excluded)."""
        self.infer(feeds)
        first_ms = self.last_infer_ms
        return first_ms, self.bench(warmup, iters, min_time_s, feeds)

    def bench(self, warmup: int = 5, iters: int = 20, min_time_s: float = 0.0,
              feeds: dict[str, np.ndarray] | None = None) -> list[float]:
        """Per-call milliseconds timed on the device (on prepared ``feeds``, else the device's own synthetic
        inputs)."""
        feeds = feeds or {}
        self._send({"op": "bench", "warmup": warmup, "iters": iters, "min_time_s": min_time_s,
                    "names": list(feeds)}, list(feeds.values()))
        return [float(t) for t in self._receive("timing")[0]["latency_ms"]]

    def close(self) -> None:
        if getattr(self, "proc", None) is None or self.proc.poll() is not None:
            return
        try:
            write_frame(self._in, {"op": "close"})
            self._in.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            self._stderr.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
