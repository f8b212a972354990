"""Hostile and faulty input: a baseline that would run code, ssh options smuggled in a device profile,
resumed rows measured on other files, two profiles into one folder, a tampered export cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

EDGECV = str(Path(sys.executable).with_name("edgecv"))
FAST = ["--iters", "5", "--min-time", "0", "--warmup", "1"]
LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"


def _edgecv(*args, env=None):
    return subprocess.run([EDGECV, *args], capture_output=True, text=True, env=env)


def test_a_baseline_naming_python_code_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    module = tmp_path / "evil.py"
    module.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('pwned')\n"
                      "def build():\n    raise SystemExit(3)\n")
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"rows": [], "matrix": {"targets": [f"{module}:build"], "format": "onnx"}}))
    ran = _edgecv("check", "--baseline", str(baseline), "--out", str(tmp_path / "o"))
    assert ran.returncode == 2 and "cannot run code" in ran.stderr and f"--allow-module {module}:build" in ran.stderr
    assert not marker.exists()


@pytest.mark.parametrize("matrix, message", [
    ({"targets": "mobilenet_v2"}, "matrix.targets"),
    ({"targets": ["mobilenet_v2"], "limit": "all"}, "matrix.limit"),
    ({"targets": ["mobilenet_v2"], "threads": 0}, "matrix.threads"),
    ({"targets": ["mobilenet_v2"], "format": {"x": 1}}, "matrix.format"),
    ({"targets": ["mobilenet_v2"], "__class__": 1}, "unknown matrix key"),
    ([1, 2], "matrix is not an object"),
])
def test_a_baselines_matrix_is_validated_before_any_work(tmp_path, matrix, message):
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"rows": [], "matrix": matrix}))
    ran = _edgecv("check", "--baseline", str(baseline), "--out", str(tmp_path / "o"))
    assert ran.returncode == 2 and message in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("host", ["-V", "-oProxyCommand=touch /tmp/edgecv-pwned", "pi@-oX", "a b", "pi@host;id"])
def test_an_ssh_host_that_could_be_an_option_is_refused(tmp_path, host):
    from edgecv.devices import get_device
    from edgecv.errors import UsageError

    profile = tmp_path / "board.toml"
    profile.write_text(f'name = "board"\n[ssh]\nhost = {json.dumps(host)}\n')
    with pytest.raises(UsageError, match=r"\[ssh\] host .* is not user@hostname"):
        get_device(str(profile))


def test_ssh_values_are_checked_and_the_destination_follows_double_dash(tmp_path):
    from edgecv.devices import get_device
    from edgecv.errors import UsageError
    from edgecv.runtimes.ssh import ssh_command

    profile = tmp_path / "board.toml"
    for body, message in (('host = "pi@pi.local"\nport = "22; id"', "port must be a int"),
                          ('host = "pi@pi.local"\nport = 70000', "port must be 1-65535"),
                          ('host = "pi@pi.local"\nproxy = "x"', "unknown \\[ssh\\] key 'proxy'")):
        profile.write_text(f'name = "board"\n[ssh]\n{body}\n')
        with pytest.raises(UsageError, match=message):
            get_device(str(profile))
    profile.write_text('name = "board"\n[ssh]\nhost = "pi@raspberrypi.local"\nport = 2222\n')
    argv = ssh_command(get_device(str(profile)))
    assert argv[-2:] == ["--", "pi@raspberrypi.local"] and "2222" in argv


def test_a_file_changed_in_place_is_measured_again_not_read_back(tmp_path):
    model = tmp_path / "model.onnx"
    shutil.copy(LIGHT / "light_squeezenet.onnx", model)
    first = _edgecv("profile", str(model), "--out", str(tmp_path / "o"), *FAST)
    assert first.returncode == 0, first.stderr[-2000:]
    shutil.copy(LIGHT / "light_shufflenet.onnx", model)  # same name and path, other model
    second = _edgecv("profile", str(model), "--out", str(tmp_path / "o"), *FAST)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "measuring 1 saved row(s) again" in second.stderr
    (row,) = json.loads((tmp_path / "o" / "results.json").read_text())["rows"]
    assert row["size_mb"] == pytest.approx((LIGHT / "light_shufflenet.onnx").stat().st_size / 1e6)


def test_two_profiles_into_one_folder_do_not_both_write_it(tmp_path):
    slow = _edgecv_popen("profile", str(LIGHT / "light_squeezenet.onnx"), "--out", str(tmp_path / "o"),
                         "--iters", "5", "--min-time", "6", "--warmup", "1")
    try:
        for _ in range(300):  # until the first one holds the folder
            if (tmp_path / "o" / ".lock").exists():
                break
            time.sleep(0.05)
        time.sleep(0.5)
        second = _edgecv("profile", str(LIGHT / "light_squeezenet.onnx"), "--out", str(tmp_path / "o"), *FAST)
        assert second.returncode == 2 and "another edgecv profile is writing to" in second.stderr
    finally:
        slow.wait(timeout=120)
    assert slow.returncode == 0
    assert len(json.loads((tmp_path / "o" / "results.json").read_text())["rows"]) == 1


def _edgecv_popen(*args):
    return subprocess.Popen([EDGECV, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_tampered_or_truncated_cached_export_is_rebuilt(tmp_path):
    env = {**os.environ, "EDGECV_CACHE": str(tmp_path / "cache")}
    args = ["profile", "mobilenet_v2", "--format", "onnx", "--precision", "int8", "--imgsz", "32", "--limit", "32",
            *FAST]
    first = _edgecv(*args, "--out", str(tmp_path / "a"), env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    (cached,) = (tmp_path / "cache" / "exports").glob("*/mobilenet_v2-32-int8.onnx")
    top1 = json.loads((tmp_path / "a" / "results.json").read_text())["rows"][0]["top1"]
    for damage in ("flip", "truncate"):
        data = bytearray(cached.read_bytes())
        if damage == "flip":  # same size, other bytes
            data[len(data) // 2] ^= 0xFF
        else:
            data = data[: len(data) // 2]
        cached.write_bytes(bytes(data))
        again = _edgecv(*args, "--out", str(tmp_path / damage), env=env)
        assert again.returncode == 0, again.stderr[-2000:]
        assert "is not the file edgecv exported" in again.stderr and "exporting" in again.stderr
        assert json.loads((tmp_path / damage / "results.json").read_text())["rows"][0]["top1"] == top1
