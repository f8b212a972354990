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
from helpers import pinned

EDGECV = str(Path(sys.executable).with_name("edgecv"))
FAST = ["--iters", "5", "--min-time", "0", "--warmup", "1"]
LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"


def _edgecv(*args, env=None):
    return subprocess.run([EDGECV, *pinned(args)], capture_output=True, text=True, env=env)


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
    """Deterministic (no sleeps decide it): this test holds the folder's lock as a running profile would. The
    folder is locked before its report is read, so a profile is refused whether the other one is exporting,
    measuring or writing its report; once the lock is free, the same profile runs there."""
    import fcntl

    out = tmp_path / "o"
    out.mkdir()
    with open(out / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        second = _edgecv("profile", str(LIGHT / "light_squeezenet.onnx"), "--out", str(out), *FAST)
        assert second.returncode == 2 and "another edgecv profile is writing to" in second.stderr, second.stderr
        assert not (out / "rows.jsonl").exists() and not (tmp_path / "o-2").exists()
        (out / "results.json").write_text(json.dumps({"matrix": {"targets": ["another"]}}))  # another profile's
        third = _edgecv("profile", str(LIGHT / "light_squeezenet.onnx"), "--out", str(out), *FAST)
        assert third.returncode == 2 and not (tmp_path / "o-2").exists()  # locked: not even read, not moved on
        fcntl.flock(handle, fcntl.LOCK_UN)
    moved = _edgecv("profile", str(LIGHT / "light_squeezenet.onnx"), "--out", str(out), *FAST)
    assert moved.returncode == 0 and "this one goes to" in moved.stderr, moved.stderr[-2000:]
    assert len(json.loads((tmp_path / "o-2" / "results.json").read_text())["rows"]) == 1


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


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import torch
    from click.testing import CliRunner

    from edgecv.cli import cli
    from edgecv.models import load_checkpoint
    from edgecv.train.objectives import Classification

    real, calls = Classification.loss, {"n": 0}

    def poisoned(*args, **kwargs):  # epoch 1 trains normally (5 steps), then the loss turns NaN
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 5 else loss

    monkeypatch.setattr(Classification, "loss", poisoned)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "lenet5", "--data", "digits", "--epochs", "3", "--limit", "160",
                                      "--batch", "32", "--out", str(out)])
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert "training stopped at epoch 2" in last and "the loss is nan" in last and "last.safetensors (epoch 1)" in last
    model = load_checkpoint(out / "last.safetensors")
    assert all(torch.isfinite(t).all() for t in model.state_dict().values())


def test_16_bit_greyscale_is_read_at_its_brightness_with_and_without_pillow(tmp_path):
    import numpy as np
    from PIL import Image

    from edgecv.data.base import read_image
    from edgecv.portable.image import _read_without_pillow

    values = np.full((6, 5), 127 * 257, np.uint16)  # mid-grey in 16 bits
    values[0, 0] = 65535
    path = tmp_path / "grey16.png"
    Image.fromarray(values).save(path)
    for image in (read_image(path), _read_without_pillow(path)):
        assert image.shape == (6, 5, 1) and image.dtype == np.uint8
        assert image[1, 1, 0] == 127 and image[0, 0, 0] == 255


def test_a_decompression_bomb_is_named_and_skipped_in_predict_and_refused_in_data(tmp_path, monkeypatch):
    from PIL import Image

    from edgecv.data import get_dataset
    from edgecv.errors import DataError

    bomb = tmp_path / "val" / "a" / "bomb.png"
    bomb.parent.mkdir(parents=True)
    Image.new("L", (12000, 8000)).save(bomb)  # 96 M pixels: over Pillow's 89 M limit, a small file
    Image.new("RGB", (16, 16)).save(tmp_path / "val" / "a" / "ok.png")
    model = LIGHT / "light_squeezenet.onnx"
    ran = _edgecv("predict", str(model), str(bomb))
    assert ran.returncode == 2 and "does not say how images are prepared" in ran.stderr  # refused for the model first
    with pytest.raises(DataError, match=r"cannot read image .*bomb.png: .*exceeds limit"):
        ds = get_dataset(tmp_path, "val")
        for k in range(len(ds)):
            ds[k]


def test_predict_names_a_bomb_and_goes_on_with_the_other_images(zoo_artifacts, tmp_path):
    from PIL import Image

    Image.new("L", (12000, 8000)).save(tmp_path / "bomb.png")
    Image.new("RGB", (64, 64), (200, 10, 10)).save(tmp_path / "ok.png")
    art = zoo_artifacts[("mobilenet_v2", "onnx", "int8")]
    ran = _edgecv("predict", str(art.path), str(tmp_path / "bomb.png"), str(tmp_path / "ok.png"))
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert "bomb.png: " in ran.stderr and "exceeds limit" in ran.stderr and "ok.png" in ran.stdout
    assert "1 of 2 images could not be read" in ran.stderr


def test_thread_counts_are_capped_at_the_cores(zoo_artifacts):
    start = time.perf_counter()
    art = zoo_artifacts[("mobilenet_v2", "onnx", "int8")]
    ran = _edgecv("eval", str(art.path), "--threads", "100000", "--limit", "4")
    assert ran.returncode == 0 and "--threads 100000 is more than the" in ran.stderr
    assert time.perf_counter() - start < 120


def test_sizes_that_cannot_fit_in_memory_are_refused_before_work(tmp_path):
    for args in (["eval", "mobilenet_v2", "--imgsz", "100000"],
                 ["export", "mobilenet_v2", "--imgsz", "100000", "--out", str(tmp_path / "o")]):
        ran = _edgecv(*args)
        assert ran.returncode == 2 and "GiB of memory" in ran.stderr and "GiB is free" in ran.stderr, ran.stderr
    assert not (tmp_path / "o").exists()


def test_ctrl_c_during_profile_keeps_finished_rows_and_prints_no_traceback(tmp_path):
    import signal

    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("light_squeezenet.onnx", "light_shufflenet.onnx"):
        shutil.copy(LIGHT / name, folder / name)
    # A terminal's foreground job: SIGINT at its default. (A job started with `&` by a non-interactive shell, as a
    # CI runner may start the suite, inherits SIGINT ignored, and rightly cannot be interrupted with it.)
    proc = subprocess.Popen([EDGECV, "profile", str(folder), "--out", str(tmp_path / "o"), "--iters", "5",
                             "--min-time", "20", "--warmup", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    rows = tmp_path / "o" / "rows.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (rows.exists() and rows.read_text().count("\n") >= 1):
        time.sleep(0.2)
    time.sleep(5)  # the second cell is being timed (past its start-up, even on a loaded machine)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert len(rows.read_text().splitlines()) == 1  # the finished row is kept for the resume


def test_unknown_runtimes_and_options_are_named(tmp_path):
    ran = _edgecv("profile", str(LIGHT / "light_squeezenet.onnx"), "--runtime", "bogus", "--out", str(tmp_path / "o"))
    assert ran.returncode == 2 and "unknown runtime 'bogus'" in ran.stderr
    ran = _edgecv("predict", str(LIGHT / "light_squeezenet.onnx"), str(LIGHT / "light_squeezenet.onnx"), "--option",
                  "__class__=1")
    assert ran.returncode == 2 and "has no option '__class__'" in ran.stderr, ran.stderr


def test_an_unwritable_out_is_said_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for args in (["profile", str(LIGHT / "light_squeezenet.onnx")], ["export", "mobilenet_v2", "--precision", "fp32"]):
        ran = _edgecv(*args, "--out", str(blocker / "sub"))
        assert ran.returncode == 2 and f"cannot write to {blocker / 'sub'}/" in ran.stderr, ran.stderr
        assert "exporting" not in ran.stderr


def test_a_write_error_names_the_file(tmp_path, monkeypatch):
    from edgecv.artifact import write_atomic
    from edgecv.errors import EdgecvError

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(EdgecvError, match=r"cannot write .*report.md: No space left on device"):
        write_atomic(tmp_path / "report.md", b"x")
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_allow_module_lets_the_command_line_profile_a_baselines_python_target(tmp_path):
    module = tmp_path / "tiny.py"
    module.write_text("import torch\n\ndef build():\n    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), "
                      "torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())\n")
    target = f"{module}:build"
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"rows": [], "matrix": {"targets": [target], "format": "pytorch",
                                                           "iters": 3, "warmup": 0, "min_time_s": 0}}))
    ran = _edgecv("check", "--baseline", str(baseline), "--allow-module", target, "--out", str(tmp_path / "o"))
    assert ran.returncode == 0, ran.stderr[-2000:]
    (row,) = json.loads((tmp_path / "o" / "results.json").read_text())["rows"]
    assert row["model"] == "build" and row["status"] == "ok" and "1 new" in ran.stdout
