"""Hostile input, round 3: the seven ways in (issue 25). Each test plants what an attacker would and checks the
mechanism refuses it: files on a board are trusted by their hash there, never their name; the device-script
cache by its bytes; a baseline names only configured devices; the gate measures what it gates and saved rows
are sealed to this machine; report links and CSV cells cannot carry script; a Ray worker measures only the bytes
the driver sent, in a private folder it removes."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import pinned

EDGECV = str(Path(sys.executable).with_name("edgecv"))
FAST = ["--iters", "3", "--min-time", "0", "--warmup", "1"]
LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"
SQUEEZENET = LIGHT / "light_squeezenet.onnx"


def _edgecv(*args, env=None):
    return subprocess.run([EDGECV, *pinned(args)], capture_output=True, text=True, env=env, timeout=900)


# --- 1. the board's workdir: private, and every file hashed there before use ---------------------------------

def _board_check(workdir: Path, expected: dict[str, str]) -> dict:
    """The check edgecv runs on a board, run here with this Python (what the board's python3 would do)."""
    from edgecv.runtimes.ssh import _CHECK

    args = [str(workdir)] + [x for item in expected.items() for x in item]
    out = subprocess.run([sys.executable, "-", *args], input=_CHECK.encode(), capture_output=True, timeout=60)
    return json.loads(out.stdout)


def test_the_board_check_makes_a_private_workdir_and_trusts_only_matching_bytes(tmp_path):
    good, planted = b"the real script", b"import os; os.system('id')"
    reply = _board_check(tmp_path / "wd", {})
    assert reply["workdir"] == str(tmp_path / "wd") and stat.S_IMODE((tmp_path / "wd").stat().st_mode) == 0o700
    (tmp_path / "wd" / "edgecv_device-0123.pyz").write_bytes(planted)  # the predictable name, other bytes
    (tmp_path / "wd" / "model.onnx").write_bytes(good)
    digest = hashlib.sha256(good).hexdigest()
    reply = _board_check(tmp_path / "wd", {"edgecv_device-0123.pyz": digest, "model.onnx": digest, "absent": digest})
    assert reply["good"] == ["model.onnx"]
    os.symlink(tmp_path / "wd" / "model.onnx", tmp_path / "wd" / "link.onnx")
    assert _board_check(tmp_path / "wd", {"link.onnx": digest})["good"] == []  # a symlink is never a pushed file


@pytest.mark.parametrize("setup, message", [
    (lambda wd: wd.chmod(0o777), "world-writable"),
    (lambda wd: wd.chmod(0o770), "group- or world-writable"),
    (lambda wd: (wd.rmdir(), wd.symlink_to(wd.parent)), "not a directory"),
    (lambda wd: os.chown(wd, 65534, 65534) if os.geteuid() == 0 else pytest.skip("chown needs root"),
     "belongs to another user"),
])
def test_a_workdir_others_could_write_is_refused(tmp_path, setup, message):
    wd = tmp_path / "wd"
    wd.mkdir(mode=0o700)
    setup(wd)
    assert message in _board_check(wd, {})["error"]


def test_a_script_and_a_model_planted_in_the_boards_workdir_are_replaced_before_they_run(zoo_artifacts, sshd, tmp_path):
    import edgecv
    from edgecv.devices.script import script_digest

    profile, _, _ = sshd
    art = zoo_artifacts[("mobilenet_v2", "onnx", "int8")]
    remote = tmp_path / "remote"
    remote.mkdir(mode=0o700)
    marker = tmp_path / "pwned"
    planted = remote / f"edgecv_device-{script_digest()}.pyz"  # names are predictable: the attacker's bytes
    planted.write_text(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n")
    digest = hashlib.sha256(art.path.read_bytes()).hexdigest()[:16]
    other = zoo_artifacts[("mobilenet_v2", "onnx", "fp32")].path
    (remote / f"{digest}-{art.path.name}").write_bytes(other.read_bytes())  # the int8 name, the fp32 model
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with edgecv.load(art.path, device=str(profile)) as board:
        out = board.run(x)
    assert not marker.exists()
    host = edgecv.load(art.path).run(x)
    assert out.keys() == host.keys() and all(np.array_equal(out[k], host[k]) for k in host)
    assert (remote / f"{digest}-{art.path.name}").read_bytes() == art.path.read_bytes()


def test_a_shared_workdir_on_the_board_is_refused_in_one_line(zoo_artifacts, sshd, tmp_path):
    import edgecv
    from edgecv.errors import EdgecvError

    profile, _, _ = sshd
    (tmp_path / "remote").mkdir(mode=0o777)
    (tmp_path / "remote").chmod(0o777)
    with pytest.raises(EdgecvError, match="group- or world-writable"):
        edgecv.load(zoo_artifacts[("mobilenet_v2", "onnx", "int8")].path, device=str(profile))
    assert os.listdir(tmp_path / "remote") == []  # nothing pushed into it


# --- 2. the device-script cache is checked by content ---------------------------------------------------------

def test_a_tampered_cached_device_script_is_rebuilt_not_pushed(tmp_path, monkeypatch):
    from edgecv.devices.script import cached_device_script, device_script

    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    path = cached_device_script()
    assert path.read_bytes() == device_script()
    path.write_bytes(b"#!/usr/bin/env python3\nimport os; os.system('id')\n")
    assert cached_device_script().read_bytes() == device_script()
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").write_bytes(device_script())  # right bytes, but through a link anyone could repoint
    assert not cached_device_script().is_symlink()


# --- 3. a baseline names only devices configured here --------------------------------------------------------

def test_a_baseline_cannot_send_the_model_to_a_device_of_its_own(tmp_path):
    evil = tmp_path / "evil.toml"
    evil.write_text('name = "evil"\n[ssh]\nhost = "attacker.example"\nknown_hosts = "/dev/null"\n')
    for device in (str(evil), "no-such-board"):
        baseline = tmp_path / "baseline.json"
        baseline.write_text(json.dumps({"rows": [], "matrix": {"targets": [str(SQUEEZENET)], "device": ["host", device]}}))
        ran = _edgecv("check", "--baseline", str(baseline), "--out", str(tmp_path / "o"))
        assert ran.returncode == 2 and "not a device configured here" in ran.stderr, ran.stderr
        assert f"--allow-device {device}" in ran.stderr and "Traceback" not in ran.stderr
        assert not (tmp_path / "o").exists()


def test_a_baseline_may_name_a_configured_device_or_one_the_command_line_allows():
    from edgecv.errors import UsageError
    from edgecv.profiler.spec import ProfileSpec

    assert ProfileSpec.from_dict({"targets": ["m"], "device": "host,rpi4"}, "b").device == ("host", "rpi4")
    with pytest.raises(UsageError, match="not a device configured here"):
        ProfileSpec.from_dict({"targets": ["m"], "device": ["x.toml"]}, "b")
    assert ProfileSpec.from_dict({"targets": ["m"], "device": ["x.toml"]}, "b", allow_devices=["x.toml"]).device


# --- 4. the gate measures what it gates; saved rows are sealed to this machine --------------------------------

def _profile_json(tmp_path, name="base"):
    out = tmp_path / name
    ran = _edgecv("profile", str(SQUEEZENET), "--out", str(out), "--json", str(tmp_path / f"{name}.json"), *FAST)
    assert ran.returncode == 0, ran.stderr[-2000:]
    return json.loads((tmp_path / f"{name}.json").read_text())


def test_check_measures_every_row_it_gates_never_a_planted_rows_file(tmp_path):
    report = _profile_json(tmp_path)
    (row,) = report["rows"]
    baseline = {**report, "rows": [{**row, "size_mb": row["size_mb"] / 3}]}  # the file really grew 3x against it
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    gate = tmp_path / "gate"
    gate.mkdir()
    saved = [json.loads(line) for line in (tmp_path / "base" / "rows.jsonl").read_text().splitlines()]
    forged = [{**r, "size_mb": row["size_mb"] / 3} for r in saved]  # the planted rows say it did not
    (gate / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in forged))
    ran = _edgecv("check", "--baseline", str(tmp_path / "baseline.json"), "--out", str(gate))
    assert ran.returncode == 1 and "size" in ran.stderr and "+200" in ran.stdout, ran.stdout + ran.stderr
    assert (gate / "rows.previous.jsonl").is_file()  # what was there is kept aside, not lost
    resumed = _edgecv("check", "--baseline", str(tmp_path / "baseline.json"), "--out", str(gate), "--resume")
    assert resumed.returncode == 1 and "resuming: 1 of 1" in resumed.stderr  # its own sealed row, still failing


def test_profile_measures_anew_rows_it_did_not_seal(tmp_path):
    _profile_json(tmp_path)
    rows = tmp_path / "base" / "rows.jsonl"
    (line,) = rows.read_text().splitlines()
    data = json.loads(line)
    rows.write_text(json.dumps({**data, "size_mb": 0.001}) + "\n")  # edited: the seal no longer verifies
    again = _edgecv("profile", str(SQUEEZENET), "--out", str(tmp_path / "base"), *FAST)
    assert again.returncode == 0 and "measuring 1 saved row(s)" in again.stderr and "no seal" in again.stderr
    (row,) = json.loads((tmp_path / "base" / "results.json").read_text())["rows"]
    assert row["size_mb"] == pytest.approx(SQUEEZENET.stat().st_size / 1e6)
    elsewhere = tmp_path / "copy"  # a sealed file copied from another machine (another key)
    shutil.copytree(tmp_path / "base", elsewhere)
    env = {**os.environ, "EDGECV_CACHE": str(tmp_path / "other-cache")}
    copied = _edgecv("profile", str(SQUEEZENET), "--out", str(elsewhere), *FAST, env=env)
    assert copied.returncode == 0 and "no seal of this machine" in copied.stderr, copied.stderr
    key = tmp_path / "other-cache" / "keys" / "rows.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_row_key_others_can_read_is_replaced(tmp_path, monkeypatch):
    from edgecv.profiler.folder import seal

    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path))
    first = seal({"a": 1})
    key = tmp_path / "keys" / "rows.key"
    key.chmod(0o644)
    assert seal({"a": 1}) != first and stat.S_IMODE(key.stat().st_mode) == 0o600


# --- 5 and 7. report links and CSV cells ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    """A real profile of files whose names are formulas and markup."""
    tmp = tmp_path_factory.mktemp("hostile-names")
    folder = tmp / "files"
    folder.mkdir()
    names = ["=HYPERLINK(\"x\")", "@SUM(1)", "-2+3", "<img src=x onerror=alert(1)>"]
    for name in names:
        shutil.copy(SQUEEZENET, folder / f"{name}.onnx")
    ran = _edgecv("profile", str(folder), "--out", str(tmp / "o"), *FAST)
    assert ran.returncode == 0, ran.stderr[-2000:]
    return tmp / "o", names


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(hostile_report):
    out, names = hostile_report
    with open(out / "results.csv", newline="") as f:
        models = [r["model"] for r in csv.DictReader(f)]
    assert sorted(models) == sorted("'" + n if n[0] in "=+-@" else n for n in names)
    from edgecv.profiler.cells import csv_cell

    assert [csv_cell(v) for v in ("\tx", "\rx", "a=b", -1.5, 3)] == ["'\tx", "'\rx", "a=b", -1.5, 3]


def test_markdown_reports_carry_no_raw_html_or_line_breaks(hostile_report):
    out, _ = hostile_report
    md = (out / "report.md").read_text()
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    from edgecv.profiler.cells import md_cell

    assert md_cell("a|b\nc<script>\x07") == "a\\|b c&lt;script&gt; "


def test_report_html_links_only_pages_edgecv_wrote(hostile_report):
    from edgecv.profiler.html import page

    out, _ = hostile_report
    report = json.loads((out / "results.json").read_text())
    links = ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "/etc/passwd", "../../x.html",
             "layers/../../x.html", "https://evil.example/x.html", "layers/ok-0123.html"]
    rows = [{**report["rows"][0], "model": f"m{i}", "layers_report": link} for i, link in enumerate(links)]
    html = page({**report, "rows": rows})
    hrefs = [part.split('"', 1)[0] for part in html.split('href="')[1:]]
    assert hrefs == ["layers/ok-0123.html"], hrefs
    assert "<img src=x" not in html


def test_junit_with_control_characters_is_well_formed_xml():
    import xml.etree.ElementTree as ET

    from edgecv.profiler.check import Verdict, junit
    from edgecv.profiler.row import Row

    row = Row(model="bad\x01name\x1b[31m", format="onnx", precision="fp32", runtime="onnxruntime", provider="cpu",
              device="host", imgsz=32, batch=1, status="failed", error="boom\x00\x0b")
    xml = junit([Verdict(row.identity, "fail", ["failed: boom\x00\x0b"], row, row)])
    case = ET.fromstring(xml).find("testcase")
    assert case is not None and "bad" in case.get("name")


# --- 6. a Ray worker measures only the driver's bytes, in a private folder ------------------------------------

def test_ray_materialize_checks_the_bytes_and_writes_privately(tmp_path):
    from edgecv.errors import EdgecvError
    from edgecv.profiler.ray_executor import _materialize

    blob = SQUEEZENET.read_bytes()
    folder = tmp_path / "private"
    folder.mkdir(mode=0o700)
    with pytest.raises(EdgecvError, match="other bytes"):
        _materialize(folder, hashlib.sha256(b"other").hexdigest(), "m.onnx", blob, None)
    data = b"external weights"
    with pytest.raises(EdgecvError, match="m.onnx.data arrived"):  # what travels with the file is checked too
        _materialize(folder, hashlib.sha256(blob).hexdigest(), "m.onnx", blob,
                     [("m.onnx.data", hashlib.sha256(b"other").hexdigest(), data)])
    assert not list(folder.iterdir())  # nothing written before every file checked out
    path = _materialize(folder, hashlib.sha256(blob).hexdigest(), "../../m.onnx", blob,
                        [("../m.onnx.data", hashlib.sha256(data).hexdigest(), data)])
    assert path.parent == folder and path.read_bytes() == blob and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (folder / "m.onnx.data").read_bytes() == data
