"""`edgecv check`: the accuracy-regression gate over two profile reports."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edgecv.errors import UsageError
from edgecv.profiler.check import Limits, compare, read_report

EDGECV = str(Path(sys.executable).with_name("edgecv"))


def _row(model, fmt, precision, top1=None, map50_95=None, size=4.0, p50=1.0, status="ok"):
    return {"model": model, "format": fmt, "precision": precision, "runtime": "onnxruntime", "provider": "cpu",
            "device": "host", "imgsz": 64, "batch": 1, "top1": top1, "map50_95": map50_95, "size_mb": size,
            "latency_ms": {"p50": p50}, "status": status, "error": None if status == "ok" else "boom"}


REPORT = {"edgecv_version": "0", "environment": {}, "rows": [
    _row("mobilenet_v2", "onnx", "fp32", top1=93.5, size=8.9),
    _row("mobilenet_v2", "onnx", "int8", top1=93.6, size=2.6, p50=0.3),
    _row("yolo_n", "onnx", "int8", map50_95=58.3, size=3.2)]}


def _check(tmp_path, baseline, current, *extra):
    (tmp_path / "base.json").write_text(json.dumps(baseline))
    (tmp_path / "cur.json").write_text(json.dumps(current))
    return subprocess.run([EDGECV, "check", "--baseline", str(tmp_path / "base.json"), "--current",
                           str(tmp_path / "cur.json"), "--junit", str(tmp_path / "j.xml"), *extra],
                          capture_output=True, text=True)


def test_an_identical_profile_passes(tmp_path):
    ran = _check(tmp_path, REPORT, REPORT)
    assert ran.returncode == 0 and "edgecv check: passed" in ran.stdout


def test_a_baseline_promising_more_accuracy_fails_and_names_the_cell(tmp_path):
    base = copy.deepcopy(REPORT)
    base["rows"][1]["top1"] = 95.0  # the model now gives 93.6: 1.4 points less than promised
    ran = _check(tmp_path, base, REPORT, "--markdown", str(tmp_path / "m.md"))
    assert ran.returncode == 1
    assert "mobilenet_v2 onnx int8 onnxruntime 64" in ran.stderr and "top1 95.00 -> 93.60" in ran.stderr
    assert "| mobilenet_v2 onnx int8 onnxruntime 64 | fail |" in (tmp_path / "m.md").read_text()
    suite = ET.parse(tmp_path / "j.xml").getroot()
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert suite.get("failures") == "1" and len(failures) == 1 and "top1" in failures[0].find("failure").get("message")


def test_limits_are_fractions_and_map_has_its_own(tmp_path):
    current = copy.deepcopy(REPORT)
    current["rows"][1]["top1"] = 92.7  # -0.9 points: inside 0.01
    current["rows"][2]["map50_95"] = 57.0  # -1.3 points: inside 0.015
    assert _check(tmp_path, REPORT, current).returncode == 0
    assert _check(tmp_path, REPORT, current, "--max-drop-map", "0.01").returncode == 1


def test_a_missing_or_failed_row_fails_a_new_row_does_not(tmp_path):
    current = copy.deepcopy(REPORT)
    current["rows"].pop(0)
    current["rows"].append(_row("mobilenet_v2", "tflite", "int8", top1=93.0))
    verdicts = {v.name: v for v in compare(REPORT, current, Limits())}
    assert verdicts["mobilenet_v2 onnx fp32 onnxruntime 64"].reasons == ["row missing from the current profile"]
    assert verdicts["mobilenet_v2 tflite int8 onnxruntime 64"].status == "new"
    current["rows"][0]["status"], current["rows"][0]["error"] = "failed", "the runtime crashed (SIGSEGV)"
    verdicts = {v.name: v for v in compare(REPORT, current, Limits())}
    assert verdicts["mobilenet_v2 onnx int8 onnxruntime 64"].reasons == ["failed: the runtime crashed (SIGSEGV)"]


def test_size_growth_fails_and_latency_only_when_asked(tmp_path):
    current = copy.deepcopy(REPORT)
    current["rows"][1]["size_mb"] = 2.9  # +11.5%
    assert "size 2.60 -> 2.90 MB" in _check(tmp_path, REPORT, current).stderr
    slower = copy.deepcopy(REPORT)
    slower["rows"][1]["latency_ms"]["p50"] = 0.6
    assert _check(tmp_path, REPORT, slower).returncode == 0
    ran = _check(tmp_path, REPORT, slower, "--max-latency-growth", "0.5")
    assert ran.returncode == 1 and "p50 0.300 -> 0.600 ms (x2.00, limit x1.50)" in ran.stderr


@pytest.mark.parametrize("content", ['{"rows": [', '{"edgecv_version": 1}', '{"rows": [{"model": "x"}]}'])
def test_an_unreadable_baseline_exits_2_in_one_line(tmp_path, content):
    (tmp_path / "base.json").write_text(content)
    ran = subprocess.run([EDGECV, "check", "--baseline", str(tmp_path / "base.json"), "--current",
                          str(tmp_path / "base.json")], capture_output=True, text=True)
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1 and "is not an edgecv profile report" in ran.stderr
    with pytest.raises(UsageError, match="baseline not found"):
        read_report(tmp_path / "absent.json")
