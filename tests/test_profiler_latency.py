"""The profiler's latency measurement: what is timed, what is not, and the statistics reported."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgecv.portable.errors import DeviceError
from edgecv.portable.shapes import concrete_shapes
from edgecv.profiler.latency import measure, peak_memory_mb, summarize, synthetic_inputs
from edgecv.profiler.stability import Load, unstable_reasons
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
    assert result["first_ms"] >= 1.99 and result["throughput_ips"] == pytest.approx(1e3 / result["latency_ms"]["p50"])


def test_a_minimum_time_extends_the_timed_calls_and_batches_count_in_throughput():
    session = Sleeper(1.0)
    result = measure(session, synthetic_inputs(session, batch=4)[0], warmup=0, iters=5, min_time_s=0.1)
    lat = result["latency_ms"]
    assert lat["n"] > 5 and lat["n"] * lat["mean"] >= 99.0  # kept going until 0.1 s of timed calls
    assert result["throughput_ips"] == pytest.approx(4e3 / result["latency_ms"]["p50"])


def test_a_remote_session_is_timed_by_the_device():
    class Board(Sleeper):  # as RemoteSession: the device reports each call's time and runs the loop itself
        timed_on_device = True

        def _infer(self, feeds):
            self.last_infer_ms = 7.0
            return super()._infer(feeds)

        def time(self, feeds, warmup=10, iters=50, min_time_s=0.0):
            self.infer(feeds)
            return self.last_infer_ms, [5.0] * iters

    session = Board(0.1)
    result = measure(session, warmup=1, iters=4)
    assert result["latency_ms"]["p50"] == 5.0 and result["first_ms"] == 7.0


def test_peak_memory_is_reported_in_megabytes():
    assert 10 < peak_memory_mb() < 64 * 1024


def _spec(name, shape, dtype="float32"):
    return {"name": name, "shape": shape, "dtype": dtype}


def test_shapes_come_from_overrides_then_imgsz_then_the_file_then_640():
    dynamic = [_spec("images", [None, 3, None, None])]
    assert concrete_shapes(dynamic, (320, 480), 2)[0] == {"images": [2, 3, 320, 480]}
    shapes, notes = concrete_shapes(dynamic)
    assert shapes == {"images": [1, 3, 640, 640]} and "timed at 640x640" in notes[0]
    nhwc = [_spec("x", [1, None, None, 3], "uint8")]
    assert concrete_shapes(nhwc, 96)[0] == {"x": [1, 96, 96, 3]}
    rec = [_spec("x", [None, 3, 48, None])]  # PaddleOCR's recogniser: height fixed, width free
    assert concrete_shapes(rec)[0] == {"x": [1, 3, 48, 640]}
    assert concrete_shapes(dynamic, None, 1, {"images": [1, 3, 64, 96]})[0] == {"images": [1, 3, 64, 96]}
    fixed = [_spec("x", [1, 3, 224, 224])]
    assert concrete_shapes(fixed)[0] == {"x": [1, 3, 224, 224]}
    for specs, kwargs, message in ((fixed, {"imgsz": 320}, "fixed at 1x3x224x224"),
                                   (fixed, {"overrides": {"y": [1]}}, "names y"),
                                   (fixed, {"overrides": {"x": [1, 3, 32, 32]}}, "does not fit"),
                                   ([_spec("t", [None, None, 80])], {}, "'t' has dynamic dims"),
                                   ([_spec("t", None)], {}, "no known rank"),
                                   ([_spec("s", [1], "object")], {}, "'s' takes object")):
        with pytest.raises(DeviceError, match=message):
            concrete_shapes(specs, **kwargs)


def test_a_spread_or_a_busy_machine_makes_a_row_unstable_and_a_quiet_one_does_not():
    quiet = {"p50": 1.0, "p90": 1.1, "n": 50}
    assert unstable_reasons(quiet, {"others_cores": 0.0, "cores": 2}, 2) == []
    assert "p90/p50 = 2.00" in unstable_reasons({"p50": 1.0, "p90": 2.0, "n": 50}, None, None)[0]
    assert unstable_reasons({"p50": 1.0, "p90": 2.0, "n": 5}, None, None) == []  # too few calls to judge
    busy = unstable_reasons(quiet, {"others_cores": 1.2, "cores": 2}, 2)
    assert busy == ["busy machine: other processes used 1.2 of 2 cores while it was timed"]
    assert unstable_reasons(quiet, {"others_cores": 0.9, "cores": 4}, 1) == []  # spare cores: no contention


def test_load_sees_other_processes_and_not_our_own_work():
    import subprocess
    import sys

    watch = Load()
    time.sleep(0.5)
    background = watch.stop()["others_cores"]  # whatever else this machine runs now
    watch = Load()
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end:  # our own busy work is not "others"
        pass
    assert watch.stop()["others_cores"] < background + 0.3
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        watch = Load()
        time.sleep(0.6)
        assert watch.stop()["others_cores"] > 0.6
    finally:
        hog.kill()
