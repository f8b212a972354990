"""The profiler's latency measurement: what is timed, what is not, and the statistics reported."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgecv.profiler.latency import measure, peak_memory_mb, summarize, synthetic_inputs
from edgecv.runtimes import Session, TensorInfo


class Sleeper(Session):
    """A model that takes ``ms`` per call, and records the dtype it was given."""

    def __init__(self, ms: float, dtype=np.float32, scale=None):
        self.ms, self.seen = ms, []
        self.inputs = [TensorInfo("x", (None, 3, 8, 8), np.dtype(dtype), scale)]
        self.outputs = [TensorInfo("y", (None, 2), np.dtype(np.float32))]

    def _infer(self, feeds):
        self.seen.append(feeds["x"].dtype)
        end = time.perf_counter() + self.ms / 1e3
        while time.perf_counter() < end:
            pass
        return [np.zeros((len(feeds["x"]), 2), np.float32)]


def test_summary_statistics_are_the_usual_ones():
    s = summarize([float(v) for v in range(1, 101)])
    assert s["p50"] == pytest.approx(50.5) and s["p90"] == pytest.approx(90.1) and s["p99"] == pytest.approx(99.01)
    assert s["min"] == 1.0 and s["mean"] == pytest.approx(50.5) and s["n"] == 100


def test_measure_times_the_core_call_with_inputs_converted_once():
    session = Sleeper(2.0, np.int8, scale=0.1)
    result = measure(session, warmup=3, iters=20, min_time_s=0.0)
    assert set(session.seen) == {np.dtype(np.int8)}  # quantized before timing, not inside the loop
    assert len(session.seen) == 1 + 3 + 20
    assert result["latency_ms"]["min"] >= 1.99  # no upper bound: a loaded CI machine only makes calls slower
    assert result["first_ms"] >= 1.99 and result["throughput_ips"] == pytest.approx(1e3 / result["latency_ms"]["mean"])


def test_a_minimum_time_extends_the_timed_calls_and_batches_count_in_throughput():
    session = Sleeper(1.0)
    result = measure(session, synthetic_inputs(session, batch=4), warmup=0, iters=5, min_time_s=0.1)
    lat = result["latency_ms"]
    assert lat["n"] > 5 and lat["n"] * lat["mean"] >= 99.0  # kept going until 0.1 s of timed calls
    assert result["throughput_ips"] == pytest.approx(4e3 / result["latency_ms"]["mean"])


def test_a_remote_session_is_timed_by_the_device():
    session = Sleeper(0.1)
    session.last_infer_ms = 7.0
    session.bench = lambda warmup, iters, min_time_s, feeds: [5.0] * iters
    result = measure(session, warmup=1, iters=4)
    assert result["latency_ms"]["p50"] == 5.0 and result["first_ms"] == 7.0


def test_peak_memory_is_reported_in_megabytes():
    assert 10 < peak_memory_mb() < 64 * 1024
