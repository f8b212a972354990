"""Numbers a busy machine cannot bend (issue 27): each mechanism checked with CPU hogs or by construction, never
by a wall time that a loaded CI machine could miss."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgecv.profiler.row import Row

EDGECV = str(Path(sys.executable).with_name("edgecv"))
FAST = ["--iters", "5", "--min-time", "0", "--warmup", "1"]
ORT = ["--runtime", "onnxruntime"]  # the same rows whether or not OpenVINO (which also opens .onnx) is installed
LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"
linux = pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="reads /proc/stat")


def _hog() -> None:
    while True:
        pass


class Hogs:
    """``n`` processes that each keep a core busy: other work, for the length of a ``with``."""

    def __init__(self, n: int) -> None:
        self.procs = [multiprocessing.get_context("spawn").Process(target=_hog, daemon=True) for _ in range(n)]

    def __enter__(self) -> Hogs:
        for p in self.procs:
            p.start()
        import time

        time.sleep(0.5)  # scheduled and spinning
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.kill()
            p.join()


def _edgecv(*args):
    return subprocess.run([EDGECV, *args], capture_output=True, text=True, timeout=600)


@linux
def test_a_cell_takes_a_thread_per_core_that_other_work_leaves_free():
    from edgecv.profiler.stability import free_cores
    from edgecv.resources import cores

    n = cores()
    if n < 2:
        pytest.skip("needs two cores")
    with Hogs(n - 1):
        threads, others = free_cores()
    assert threads == 1 and others >= 0.7 * (n - 1), (threads, others)


@linux
def test_a_peak_measured_while_other_work_takes_the_cores_is_flagged_and_not_used(monkeypatch, tmp_path):
    from edgecv.profiler import peak
    from edgecv.resources import cores

    monkeypatch.setattr(peak, "TRIES", 2)
    monkeypatch.setattr(peak, "RETRY_WAIT_S", 0.0)
    monkeypatch.setattr(peak, "SIZE", 512)  # its own smaller GEMM files (long enough a window to judge)
    monkeypatch.setattr(peak, "gemm_models", lambda folder=None, real=peak.gemm_models: real(tmp_path))
    with Hogs(cores()):
        measured = peak.measure_peak(threads=cores(), iters=200)
    assert measured["busy"]["tries"] == 2 and measured["busy"]["others_cores"] >= 0.3, measured
    row = Row("m", "onnx", "fp32", "onnxruntime", "cpu", "host", 64, 1, status="ok", macs=10**8,
              latency_ms={"p50": 1.0})
    assert peak.efficiency(row, measured) is None
    assert peak.efficiency(row, {k: v for k, v in measured.items() if k != "busy"}) is not None


def test_images_per_second_is_the_batch_over_the_p50():
    from edgecv.profiler.latency import measure
    from edgecv.runtimes import load

    with load(LIGHT / "light_squeezenet.onnx", threads=1) as session:
        timing = measure(session, warmup=1, iters=9, min_time_s=0.0)
    assert timing["throughput_ips"] == pytest.approx(1e3 / timing["latency_ms"]["p50"])


def _row(runtime="onnxruntime", precision="int8", p50=2.0, unstable=(), fmt="onnx", acc=93.0, **kw):
    return Row("mobilenet_v2", fmt, precision, runtime, "cpu", "host", 64, 1, status="ok", top1=acc,
               accuracy_delta=acc - 93.5, size_mb=1.0, latency_ms={"p50": p50, "p90": p50 * 1.1},
               unstable=list(unstable), scored_on={"data": "shapes", "split": "val", "images": 2000}, **kw)


def _report(rows):
    return {"edgecv_version": "x", "environment": {"cpu": "cpu", "cores": 2, "isa": ["avx2"], "os": "Linux",
                                                   "python": "3.11"}, "matrix": {}, "peaks": {}, "runs": ["r"],
            "rows": [r.to_dict() for r in rows], "out": "o"}


def test_picks_made_from_unstable_timings_say_so_in_every_report():
    from edgecv.profiler.html import page
    from edgecv.profiler.report import markdown

    rows = [_row("pytorch", "fp32", 10.0, fmt="pytorch", acc=93.5),
            _row(p50=1.0, unstable=["busy machine: other processes used 1.0 of 2 cores while it was timed"]),
            _row("litert", "fp32", 3.0, fmt="tflite")]
    md, html_text = markdown(_report(rows)), page(_report(rows))
    for text in (md, html_text):
        assert "1 of 3 rows have unstable timings" in text and "--remeasure unstable" in text
        assert "1.000 ms (unstable timing)" in text
    assert "busy machine: other processes used 1.0 of 2 cores" in html_text  # the reasons, beside the status
    quiet = markdown(_report([rows[0], rows[2]]))
    assert "unstable" not in quiet


def test_reports_name_the_metric_per_row_and_what_accuracy_was_measured_on():
    from edgecv.profiler.html import page
    from edgecv.profiler.report import flat, markdown

    det = Row("yolo_n", "onnx", "int8", "onnxruntime", "cpu", "host", 128, 1, status="ok", map50_95=60.1,
              latency_ms={"p50": 5.0, "p90": 6.0}, scored_on={"data": "shapes-det", "split": "val", "images": 500})
    rows = [_row(), det]
    md = markdown(_report(rows))
    assert "| metric |" in md.replace(" metric ", " metric ") and "| top-1 |" in md and "| mAP50-95 |" in md
    assert "- shapes val, 2000 images: mobilenet_v2 (top-1)" in md
    assert "- shapes-det val, 500 images: yolo_n (mAP50-95)" in md
    assert "Accuracy measured on" in page(_report(rows))
    assert flat(det)["metric"] == "map50_95" and flat(det)["scored_on"] == "shapes-det val, 500 images"


def test_the_html_axes_read_and_one_outlier_does_not_squash_a_plot():
    import re

    from edgecv.profiler.html import nice_ticks, page

    for lo, hi in ((93.5, 93.7), (96.45, 96.7), (0.0, 58.6), (1.2, 1500.0)):
        ticks = nice_ticks(lo, hi)
        labels = [f"{t:.4g}" for t in ticks]
        assert 2 <= len(ticks) <= 5 and len(set(labels)) == len(labels), (lo, hi, ticks)
    rows = [_row("pytorch", "fp32", 10.0, fmt="pytorch", acc=93.5)] + [
        _row(p50=p, acc=93.0 + k / 10) for k, p in enumerate((2.0, 2.5, 3.0, 1500.0))]
    text = page(_report(rows))
    assert "off the scale" in text and "1.5e+03 →" in text
    assert "Emulated rows" not in text and "-0.00" not in text
    y_labels = re.findall(r'<text class="tick" x="\d+" y="[\d.]+" text-anchor="end" font-size="10">([^<]+)<', text)
    assert len(y_labels) >= 2 * 2 and all(y_labels.count(v) <= 2 for v in y_labels)  # two scatters per model


def test_zero_is_never_printed_negative():
    from edgecv.profiler.table import _fmt, signed

    assert _fmt(-0.001) == "0.00" and _fmt(-0.5) == "-0.50" and signed(-0.001) == "+0.00" and signed(-0.2) == "-0.20"


def test_the_estimate_of_what_is_left_goes_by_runtime():
    import io

    from edgecv.profiler.progress import Progress

    progress = Progress(io.StringIO())
    progress.start(4, ["pytorch", "onnxruntime", "onnxruntime", "litert"])
    first = Row("m", "pytorch", "fp32", "pytorch", "cpu", "host", 64, 1, status="ok", seconds=60.0)
    assert progress.left(first, 65.0, 1, 4) == pytest.approx(180.0)  # nothing else known yet: its 60 s each
    onnx = Row("m", "onnx", "fp32", "onnxruntime", "cpu", "host", 64, 1, status="ok", seconds=6.0)
    assert progress.left(onnx, 72.0, 2, 4) == pytest.approx(6.0 + 33.0)  # one onnx (6 s), litert at the mean


def test_the_warning_names_threads_only_where_threads_were_the_cause():
    from edgecv.cli.profile import unstable_warning

    busy = "busy machine: other processes used 1.0 of 2 cores while it was timed"
    two = _row(unstable=[busy], threads=2, load={"cores": 2, "others_cores": 1.0})
    one = _row(unstable=[busy], threads=1, load={"cores": 2, "others_cores": 1.0})
    assert "--threads 1" in unstable_warning([two], "o") and "--remeasure unstable" in unstable_warning([two], "o")
    assert "--threads" not in unstable_warning([one], "o")  # it already ran on the one core left free
    assert unstable_warning([_row()], "o") is None


def test_remeasure_unstable_measures_only_those_rows_again(tmp_path):
    from edgecv.profiler.folder import read_rows, seal

    out = tmp_path / "o"
    first = _edgecv("profile", str(LIGHT / "light_squeezenet.onnx"), str(LIGHT / "light_resnet50.onnx"),
                    "--out", str(out), *ORT, *FAST)
    assert first.returncode == 0, first.stderr[-2000:]
    saved = out / "rows.jsonl"
    rows = list(read_rows(saved).values())
    marked = rows[0].to_dict() | {"unstable": ["spread: p90/p50 = 2.00 (over 1.5)"]}
    lines = [json.dumps({**marked, "seal": seal(marked)}), *(json.dumps({**r.to_dict(), "seal": seal(r.to_dict())})
                                                             for r in rows[1:])]
    saved.write_text("\n".join(lines) + "\n")
    plain = _edgecv("profile", str(LIGHT / "light_squeezenet.onnx"), str(LIGHT / "light_resnet50.onnx"),
                    "--out", str(out), *ORT, *FAST)
    assert "--remeasure unstable" in plain.stderr and "resuming: 2 of 2" in plain.stderr, plain.stderr[-2000:]
    again = _edgecv("profile", str(LIGHT / "light_squeezenet.onnx"), str(LIGHT / "light_resnet50.onnx"),
                    "--out", str(out), "--remeasure", "unstable", *ORT, *FAST)
    assert again.returncode in (0, 1) and "measuring 1 saved unstable row(s) again" in again.stderr, again.stderr
    after = read_rows(saved)
    assert after[rows[0].key].run != rows[0].run and after[rows[1].key].run == rows[1].run
    assert not (tmp_path / "o-2").exists()


def test_profile_refuses_unusable_data_before_any_work(tmp_path):
    (tmp_path / "data" / "x").mkdir(parents=True)
    out = tmp_path / "o"
    result = _edgecv("profile", "mobilenet_v2", "--format", "onnx", "--precision", "fp32", "--imgsz", "32",
                     "--data", str(tmp_path / "data"), "--out", str(out), *FAST)
    assert result.returncode == 2 and "--data" in result.stderr and "no val/ folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


def test_tables_in_a_pipe_are_printed_whole():
    devices = _edgecv("devices")
    assert devices.returncode == 0 and "…" not in devices.stdout
    assert any("armv8.2-a neon fp16 dotprod crc32 aes sha2" in line for line in devices.stdout.splitlines())
    runtimes = _edgecv("runtimes")
    listed = _edgecv("runtimes", "--json")
    info = {r["name"]: r for r in json.loads(listed.stdout)["runtimes"]}
    onnx_line = next(line for line in runtimes.stdout.splitlines() if line.strip().startswith("onnxruntime"))
    here = " ".join(info["onnxruntime"]["providers_here"])
    assert f" {here} " in onnx_line
    assert all(p not in onnx_line.split("yes")[1].split(here)[0] for p in ("cuda", "tensorrt"))
    models = _edgecv("models")
    assert "…" not in models.stdout and "deeplabv3_mobilenet_v3_large  segment" in models.stdout


def test_an_unknown_zoo_name_gets_did_you_mean_in_one_line_and_debug_keeps_the_exit_code():
    plain = _edgecv("eval", "mobilenet_v22")
    assert plain.returncode == 2 and plain.stderr.startswith("edgecv: error: unknown model 'mobilenet_v22'")
    assert "did you mean mobilenet_v2" in plain.stderr and len(plain.stderr.splitlines()) == 1
    debug = _edgecv("--debug", "eval", "mobilenet_v22")
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_no_thread_count_is_imposed_on_a_cell_when_threads_are_given(monkeypatch):
    """--threads N is N for every runtime (free_cores is the default only)."""
    from edgecv.profiler import stability

    called = []
    monkeypatch.setattr(stability, "free_cores", lambda *a: called.append(1) or (1, 0.0))
    from edgecv.profiler.cell import measure_cell

    cell = {"model": "light_squeezenet", "format": "onnx", "precision": "fp32", "runtime": "onnxruntime",
            "provider": "cpu", "device": "host", "imgsz": None, "batch": 1, "target": str(LIGHT / "light_squeezenet.onnx"),
            "info": {}}
    settings = {"threads": 2, "warmup": 1, "iters": 3, "min_time_s": 0.0, "data": None, "limit": None}
    assert measure_cell(cell, settings).threads == 2 and not called
    assert measure_cell(cell, {**settings, "threads": None}).threads == 1 and called


if os.environ.get("EDGECV_NO_HOGS"):  # a machine where spinning processes are not allowed
    pytestmark = pytest.mark.skip("EDGECV_NO_HOGS set")
