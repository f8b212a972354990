"""The typed profile: ``ProfileSpec`` and ``Row`` keep ``results.json`` and committed baselines readable, and
define the row key and the headline accuracy once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgecv.errors import UsageError
from edgecv.profiler.check import Limits, compare
from edgecv.profiler.matrix import Cell
from edgecv.profiler.row import Row, row_key
from edgecv.profiler.spec import ProfileSpec

BASELINE = Path(__file__).parent.parent / "ci" / "baseline.json"


def test_the_committed_baseline_reads_back_as_a_spec_and_rows():
    report = json.loads(BASELINE.read_text())
    spec = ProfileSpec.from_dict(report["matrix"], str(BASELINE))
    assert spec.targets == ("mobilenet_v2",) and spec.format == ("onnx", "tflite") and spec.precision == ("int8",)
    assert spec.device == ("host",) and spec.limit == 500 and spec.iters == 5
    assert ProfileSpec.from_dict(spec.to_dict(), "again") == spec  # what a new run records reads back the same
    rows = [Row.from_dict(r) for r in report["rows"]]
    assert all(r.headline and r.headline[0] == "top1" for r in rows)
    assert all(v.status == "pass" for v in compare(report, report, Limits()))


def test_a_row_round_trips_and_keeps_fields_it_does_not_know():
    data = {"model": "m", "format": "onnx", "precision": "int8", "runtime": "onnxruntime", "provider": "cpu",
            "device": "host", "imgsz": 64, "batch": 1, "top1": 91.5, "status": "ok", "from_the_future": [1, 2]}
    row = Row.from_dict(data)
    assert row.extra == {"from_the_future": [1, 2]} and row.to_dict()["from_the_future"] == [1, 2]
    assert Row.from_dict(row.to_dict()) == row
    with pytest.raises(KeyError):
        Row.from_dict({"model": "m"})


def test_the_row_key_is_one_definition_for_cells_rows_and_old_baselines():
    cell = Cell("m", "onnx", "int8", "onnxruntime", "cpu", "host", 64, 1, "m.onnx")
    old = Row("m", "onnx", "int8", "onnxruntime", "cpu", "host", 64, 1)  # an old baseline row: no stored key
    assert old.identity == cell.key == row_key(old.__dict__) == "m|onnx|int8|onnxruntime|cpu|host|64|1"
    shaped = Cell("m", "onnx", "-", "onnxruntime", "cpu", "host", None, 1, "m.onnx", shapes=(("x", (1, 3, 8, 8)),))
    assert shaped.key.endswith("|x=1x3x8x8")


@pytest.mark.parametrize(("values", "headline"), [({"top1": 90.0, "top5": 99.0}, ("top1", 90.0)),
                                                  ({"map50_95": 55.5, "map50": 80.0}, ("map50_95", 55.5)),
                                                  ({}, None)])
def test_the_headline_is_top1_for_classifiers_and_map50_95_for_detectors(values, headline):
    assert Row("m", "onnx", "fp32", "onnxruntime", "cpu", "host", 64, 1, **values).headline == headline


def test_a_spec_takes_strings_or_lists_and_a_baseline_cannot_smuggle_code_or_keys():
    assert ProfileSpec.of(["a"], format="onnx, tflite", device=None).format == ("onnx", "tflite")
    assert ProfileSpec.of(["a"], format=["onnx"]).device == ("host",)
    with pytest.raises(TypeError, match="forma"):
        ProfileSpec.of(["a"], forma="onnx")
    with pytest.raises(UsageError, match="unknown matrix key 'colour'"):
        ProfileSpec.from_dict({"targets": ["a"], "colour": 1}, "b.json")
    with pytest.raises(UsageError, match="--allow-module"):
        ProfileSpec.from_dict({"targets": ["evil.py:make"]}, "b.json")
