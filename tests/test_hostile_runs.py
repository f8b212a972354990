"""Hostile input, round 3 (issue 25), what edgecv runs: memory estimated before allocating, the device script,
layers, Ray, signals, a full disk, resume fingerprints and corrupt files at inference. Each fails in one line of
edgecv's own error, or behaves, and nothing already done is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from edgecv.errors import EdgecvError

EDGECV = str(Path(sys.executable).with_name("edgecv"))
LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"
SQUEEZENET = LIGHT / "light_squeezenet.onnx"
FAST = ["--iters", "3", "--min-time", "0", "--warmup", "1"]


# --- memory is estimated before anything is allocated ------------------------------------------------------

def test_inputs_that_cannot_fit_are_refused_before_they_are_made():
    from edgecv.portable.memory import OutOfMemory
    from edgecv.portable.shapes import concrete_shapes

    specs = [{"name": "x", "shape": [1, 3, None, None], "dtype": "float32"}]
    with pytest.raises(OutOfMemory, match="needs about"):
        concrete_shapes(specs, overrides={"x": [1, 3, 160000, 160000]})
    with pytest.raises(OutOfMemory, match="needs about"):
        concrete_shapes(specs, imgsz=200000)


def test_profile_refuses_a_zoo_size_that_cannot_fit_in_one_line(tmp_path):
    ran = subprocess.run([EDGECV, "profile", "mobilenet_v2", "--imgsz", "100000", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 2 and "needs about" in ran.stderr and "Traceback" not in ran.stderr, ran.stderr[-800:]


# --- the device script -------------------------------------------------------------------------------------

def test_the_device_script_skips_an_unreadable_image_and_caps_threads(zoo_artifacts, tmp_path, capsys):
    from PIL import Image

    from edgecv.portable.cli import main

    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    model = str(zoo_artifacts[("mobilenet_v2", "onnx", "int8")].path)
    assert main(["predict", model, str(tmp_path / "bad.png"), str(tmp_path / "good.png"), "--json",
                 "--threads", "100000"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert [("error" in r) for r in report["results"]] == [True, False] and "skipping" in out.err
    assert main(["predict", model, str(tmp_path / "bad.png")]) == 1
    with pytest.raises(SystemExit):
        main(["track", model, str(tmp_path / "good.png"), "--iou", "nan"])


# --- layers, Ray, signals, disks ----------------------------------------------------------------------------

def test_layers_leaves_no_temporary_folder_and_wraps_runtime_errors(zoo_artifacts, tmp_path):
    from edgecv.quant.layers import analyse, kernel_times

    before = {p.name for p in Path(tempfile.gettempdir()).glob("edgecv-layers-*")}
    int8 = zoo_artifacts[("mobilenet_v2", "onnx", "int8")].path
    kernel_times(int8, np.zeros((1, 3, 64, 64), np.float32), threads=1, runs=1)
    assert {p.name for p in Path(tempfile.gettempdir()).glob("edgecv-layers-*")} == before
    broken = tmp_path / "broken-fp32.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    with pytest.raises(EdgecvError) as info:
        analyse(int8, broken, "shapes", limit=2, threads=100000)
    assert "\n" not in str(info.value)


def test_an_unreachable_ray_address_fails_within_seconds():
    pytest.importorskip("ray")
    from edgecv.profiler.ray_executor import RayExecutor

    start = time.perf_counter()
    with pytest.raises(EdgecvError, match="cannot reach a Ray cluster at 127.0.0.1:9"):
        RayExecutor("127.0.0.1:9", lambda m: None)
    assert time.perf_counter() - start < 30


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_sigterm_mid_profile_stops_the_cell_keeps_rows_and_prints_no_traceback(tmp_path):
    proc = subprocess.Popen([EDGECV, "profile", str(SQUEEZENET), str(LIGHT / "light_shufflenet.onnx"), "--out",
                             str(tmp_path / "o"), "--iters", "100000", "--min-time", "600", "--warmup", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cells = []
        for _ in range(1200):  # until a cell's process runs (a busy machine may take a while)
            cells = [c for c in _children(proc.pid) if "python" in Path(f"/proc/{c}/cmdline").read_bytes().decode(
                errors="replace")] if proc.poll() is None else []
            if cells:
                break
            time.sleep(0.1)
        assert cells, "no cell process started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "interrupted" in err and "Traceback" not in err, err[-2000:]
    deadline = time.time() + 30
    while not all(_gone(c) for c in cells) and time.time() < deadline:
        time.sleep(0.2)
    assert all(_gone(c) for c in cells)


def test_a_full_disk_leaves_no_partial_row_and_names_the_file(tmp_path, monkeypatch):
    from edgecv.profiler import folder

    saved = tmp_path / "rows.jsonl"
    folder.append_row(saved, {"key": "a", "model": "m"})
    good = saved.read_bytes()

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder.os, "fsync", full)
    with pytest.raises(EdgecvError, match=f"cannot save a row to {saved}: No space left"):
        folder.append_row(saved, {"key": "b", "model": "m" * 1000})
    assert saved.read_bytes() == good


# --- resume: what a saved row was measured on ----------------------------------------------------------------

def test_the_fingerprint_follows_the_datas_files_and_onnx_external_data(tmp_path):
    import onnx

    from edgecv.model_files import companion_files, model_bytes
    from edgecv.profiler.matrix import data_digest

    data = tmp_path / "data" / "val" / "a"
    data.mkdir(parents=True)
    (data / "1.png").write_bytes(b"one")
    before = data_digest(str(tmp_path / "data"))
    time.sleep(0.01)
    (data / "1.png").write_bytes(b"two")
    assert data_digest(str(tmp_path / "data")) != before
    assert data_digest("shapes") == "name: shapes"
    model = onnx.load(str(LIGHT / "light_resnet50.onnx"))
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="ext.onnx.data",
              size_threshold=0)
    assert companion_files(tmp_path / "ext.onnx") == [(tmp_path / "ext.onnx.data").resolve()]
    assert model_bytes(tmp_path / "ext.onnx") == sum(p.stat().st_size for p in tmp_path.glob("ext.onnx*"))
    assert companion_files(SQUEEZENET) == []


def test_a_corrupt_tflite_fails_in_one_line_at_inference(zoo_artifacts, tmp_path):
    """Byte-mutated copies of a real file, each in its own process (a native crash must not take the suite down):
    each either runs or says why in one line."""
    src = zoo_artifacts[("mobilenet_v2", "tflite", "int8")].path
    script = (
        "import sys, numpy as np, edgecv\n"
        "from edgecv.errors import EdgecvError\n"
        "try:\n"
        "    with edgecv.load(sys.argv[1]) as s:\n"
        "        s.run(np.zeros([d or 1 for d in s.inputs[0].shape], np.float32))\n"
        "    print('ran')\n"
        "except EdgecvError as e:\n"
        "    print('refused', str(e).count(chr(10)))\n")
    data = src.read_bytes()
    rng = np.random.default_rng(25)
    outcomes = []
    for k in range(12):
        mutated = bytearray(data)
        for at in rng.integers(0, len(data), 8):
            mutated[at] = int(rng.integers(0, 256))
        path = tmp_path / f"m{k}.tflite"
        path.write_bytes(bytes(mutated))
        ran = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
        outcomes.append((ran.returncode, ran.stdout.strip()))
    assert all(out in ("ran", "refused 0") for code, out in outcomes if code >= 0), outcomes


def test_a_ray_head_that_stops_answering_ends_the_run_in_one_line(monkeypatch):
    """Two missed connection checks of the head's GCS (5 s apart while cells wait) end the run with edgecv's line,
    well before Ray's own silent exit 60 s after losing the head."""
    from types import SimpleNamespace

    from edgecv.profiler import ray_executor

    executor = object.__new__(ray_executor.RayExecutor)
    executor.ray = SimpleNamespace(get_runtime_context=lambda: SimpleNamespace(gcs_address="127.0.0.1:6379"))
    answers = iter([True, False, True, False, False])
    monkeypatch.setattr(ray_executor, "_connects", lambda address, timeout_s=3.0: next(answers))
    executor._head_alive(3)  # answers
    executor._head_alive(3)  # one miss: not yet
    executor._head_alive(3)  # answers again: the count starts over
    executor._head_alive(3)
    with pytest.raises(EdgecvError, match=r"lost the Ray cluster's head \(127.0.0.1:6379 stopped answering\) with 3"):
        executor._head_alive(3)
