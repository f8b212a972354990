"""Hostile input, round 3 (issue 25), what edgecv parses: option values, baselines, MOT ground truth, frame order,
masks, images, labels, data.yaml and model metadata. Each input is either handled correctly or refused with one line
of edgecv's own error; parsers get property tests (hypothesis, derandomized so CI cannot turn red by chance)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecv.errors import EdgecvError, UsageError

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
EDGECV = str(Path(sys.executable).with_name("edgecv"))
LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"
SQUEEZENET = LIGHT / "light_squeezenet.onnx"
FAST = ["--iters", "3", "--min-time", "0", "--warmup", "1"]


def _cli(*args):
    from edgecv.cli import cli

    return CliRunner().invoke(cli, list(args))


def _edgecv_error_or_ok(call):
    """``call()``'s result, or None when it raised edgecv's one-line error (the host's, or the device script's)."""
    from edgecv.portable.errors import DeviceError

    try:
        return call()
    except (EdgecvError, DeviceError) as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return None


# --- NaN and unbounded numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["check", "--baseline", "b.json", "--max-drop", "nan"],
    ["check", "--baseline", "b.json", "--max-size-growth", "NaN"],
    ["check", "--baseline", "b.json", "--max-latency-growth", "inf"],
    ["export", "mobilenet_v2", "--max-drop", "nan"],
    ["track", "m.onnx", "f.png", "--iou", "nan"],
    ["profile", "m.onnx", "--timeout", "nan"],
    ["profile", "m.onnx", "--min-time", "nan"],
    ["profile", "m.onnx", "--iters", str(10**9)],
    ["train", "mobilenet_v2", "--lr", "nan"],
])
def test_every_float_option_refuses_nan_and_infinity(args):
    ran = _cli(*args)
    assert ran.exit_code == 2 and ("not a finite number" in ran.output or "range" in ran.output), ran.output


def test_the_gate_fails_a_non_finite_figure_and_refuses_a_non_finite_baseline(tmp_path):
    from edgecv.profiler.check import Limits, compare, read_report

    row = {"model": "m", "format": "onnx", "precision": "int8", "runtime": "onnxruntime", "provider": "cpu",
           "device": "host", "imgsz": 32, "batch": 1, "status": "ok", "top1": 90.0, "size_mb": 1.0,
           "latency_ms": {"p50": 1.0}}
    for field, value in (("top1", float("nan")), ("size_mb", float("inf")), ("latency_ms", {"p50": float("nan")})):
        (verdict,) = compare({"rows": [row]}, {"rows": [{**row, field: value}]}, Limits(max_latency_growth=0.5))
        assert verdict.status == "fail" and "not a finite number" in verdict.reasons[0], verdict.reasons
    (tmp_path / "b.json").write_text(json.dumps({"rows": [{**row, "top1": float("nan")}]}))
    with pytest.raises(UsageError, match="not a finite number"):
        read_report(tmp_path / "b.json")


@pytest.mark.parametrize("key, value", [("iters", 10**9), ("warmup", 10**9), ("batch", 10**6), ("threads", 10**6)])
def test_a_baseline_cannot_ask_for_unbounded_work(tmp_path, key, value):
    (tmp_path / "b.json").write_text(json.dumps({"rows": [], "matrix": {"targets": [str(SQUEEZENET)], key: value}}))
    ran = _cli("check", "--baseline", str(tmp_path / "b.json"), "--out", str(tmp_path / "o"))
    assert ran.exit_code == 2 and f"matrix.{key}" in ran.output and "from" in ran.output


@pytest.mark.parametrize("option", ["--baseline", "--current"])
def test_reports_and_ground_truth_are_read_only_from_bounded_regular_files(tmp_path, option):
    (tmp_path / "b.json").write_text(json.dumps({"rows": []}))
    args = ["--baseline", "/dev/zero"] if option == "--baseline" else ["--baseline", str(tmp_path / "b.json"),
                                                                       "--current", "/dev/zero"]
    ran = _cli("check", *args)
    assert ran.exit_code == 2 and "not a regular file" in ran.output
    from edgecv.track import _read_gt

    with pytest.raises(UsageError, match="not a regular file"):
        _read_gt("/dev/zero")


# --- tracking ground truth and frame order ------------------------------------------------------------------

GT_FIELD = st.one_of(st.integers(-3, 40).map(str), st.sampled_from(["nan", "inf", "-inf", "1e30", "2.5", "3.0",
                                                                     "", "x", "1e308"]),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr))


@FUZZ
@given(st.lists(st.lists(GT_FIELD, min_size=0, max_size=7).map(",".join), max_size=6))
def test_ground_truth_lines_load_checked_or_raise(lines):
    from edgecv.track import _read_gt

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gt.txt"
        path.write_text("\n".join(lines))
        truth = _edgecv_error_or_ok(lambda: _read_gt(str(path)))
    if truth is not None:
        assert truth and all(isinstance(k, int) and k >= 1 for k in truth)
        for ids, boxes in truth.values():
            assert len(set(ids.tolist())) == len(ids) and np.isfinite(boxes).all()


@pytest.mark.parametrize("text, message", [
    ("nan,1,0,0,5,5\n", "frame"), ("1,nan,0,0,5,5\n", "id"), ("1e30,1,0,0,5,5\n", "frame"),
    ("1.5,1,0,0,5,5\n", "whole number"), ("1,2.5,0,0,5,5\n", "whole number"),
    ("1,1,0,0,5,5\n1,1,3,3,5,5\n", "appears twice"), ("", "no boxes"), ("\n\n", "no boxes"),
])
def test_ground_truth_that_trackeval_would_refuse_is_refused(tmp_path, text, message):
    from edgecv.track import _read_gt

    (tmp_path / "gt.txt").write_text(text)
    with pytest.raises(UsageError, match=message):
        _read_gt(str(tmp_path / "gt.txt"))


def test_frames_are_taken_in_natural_order_on_the_host_and_the_device(tmp_path):
    from edgecv.portable.image import list_images
    from edgecv.predict import image_paths

    for k in (1, 2, 10, 11, 3, 20):
        (tmp_path / f"{k}.png").write_bytes(b"")
    order = [p.stem for p in image_paths([str(tmp_path)])]
    assert order == ["1", "2", "3", "10", "11", "20"] and [p.stem for p in list_images([str(tmp_path)])] == order


def test_ground_truth_beyond_the_last_frame_is_refused_before_any_work(tmp_path):
    from edgecv.track import _files

    for k in (1, 2):
        (tmp_path / f"{k}.png").write_bytes(b"")
    with pytest.raises(UsageError, match="up to frame 5, but there are 2 frames"):
        _files([str(tmp_path)], lambda m: None, {1: None, 5: None})


def test_a_folder_whose_frames_are_all_unreadable_fails(zoo_artifacts, tmp_path):
    from edgecv.track import track

    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "1.png").write_bytes(b"not a png")
    with pytest.raises(EdgecvError, match="none of its 1 frame"):
        track(str(zoo_artifacts[("yolo_n", "onnx", "fp32")].path), [str(frames)], out=tmp_path / "t",
                     log=lambda m: None)


# --- VOC masks, images, labels ------------------------------------------------------------------------------

def _png_bytes(array, mode=None, **save) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, save.pop("format", "PNG"), **save)
    return buf.getvalue()


MASK = np.array([[0, 1], [2, 255]], np.uint8)


@FUZZ
@given(st.one_of(st.binary(max_size=200),
                 st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), min_size=1, max_size=6).map(
                     lambda edits: bytes(b if i not in dict(edits) else dict(edits)[i]
                                         for i, b in enumerate(_png_bytes(MASK))))))
def test_mask_bytes_load_as_class_indices_or_raise(data):
    from edgecv.data.voc import read_mask

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "m.png").write_bytes(data)
        mask = _edgecv_error_or_ok(lambda: read_mask(Path(tmp) / "m.png", 21))
    if mask is not None:
        assert mask.dtype == np.uint8 and mask.ndim == 2


def test_masks_of_every_png_mode_read_as_their_indices_and_lossy_or_huge_ones_are_refused(tmp_path, monkeypatch):
    from PIL import PngImagePlugin

    from edgecv.data import voc

    cases = {"grey16.png": _png_bytes(MASK.astype(np.uint16)), "la.png": _png_bytes(np.dstack([MASK, MASK]), "LA"),
             "grey.png": _png_bytes(MASK)}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert np.array_equal(voc.read_mask(tmp_path / name, 21), MASK), name
    (tmp_path / "wide.png").write_bytes(_png_bytes(np.array([[0, 300]], np.uint16)))
    with pytest.raises(EdgecvError, match="values up to 300"):
        voc.read_mask(tmp_path / "wide.png", 21)
    (tmp_path / "jpeg.png").write_bytes(_png_bytes(MASK, format="JPEG"))
    with pytest.raises(EdgecvError, match="JPEG data, not PNG"):
        voc.read_mask(tmp_path / "jpeg.png", 21)
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * (PngImagePlugin.MAX_TEXT_CHUNK + 10), zip=True)
    (tmp_path / "text.png").write_bytes(_png_bytes(MASK, pnginfo=info))
    with pytest.raises(EdgecvError, match="cannot read mask"):
        voc.read_mask(tmp_path / "text.png", 21)
    monkeypatch.setattr(voc, "MAX_PIXELS", 3)  # a 2x2 mask is then a bomb
    with pytest.raises(EdgecvError, match="more than 3 pixels"):
        voc.read_mask(tmp_path / "grey.png", 21)


def test_a_float_tiff_reads_at_its_brightness(tmp_path):
    from PIL import Image

    from edgecv.data.base import read_image

    Image.fromarray(np.full((2, 2), 0.5, np.float32)).save(tmp_path / "f.tif")
    assert read_image(tmp_path / "f.tif").max() == 128
    Image.fromarray(np.full((2, 2), 200.0, np.float32)).save(tmp_path / "g.tif")
    assert read_image(tmp_path / "g.tif").max() == 200


def test_a_fractional_yolo_class_is_named_as_not_whole():
    from edgecv.data.labels import check_box

    with pytest.raises(EdgecvError, match="not a whole class"):
        check_box("a.txt:1", 3.0000001, 0.1, 0.1, 0.5, 0.5, 12)


def test_data_yaml_without_path_resolves_once_and_refuses_nested_names(tmp_path, monkeypatch):
    from edgecv.data.yolo_format import open_data_yaml

    root = tmp_path / "yl"
    (root / "images" / "val").mkdir(parents=True)
    (root / "images" / "val" / "a.png").write_bytes(_png_bytes(np.zeros((8, 8, 3), np.uint8)))
    (root / "data.yaml").write_text("val: images/val\nnames: [a, b]\n")
    monkeypatch.chdir(tmp_path)
    assert len(open_data_yaml(Path("yl/data.yaml"), "val")) == 1  # not yl/yl/images/val
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    (root / "data.yaml").write_text(bomb + "val: images/val\nnames: [*i, b]\n")
    with pytest.raises(EdgecvError, match="class name must be a string"):
        open_data_yaml(root / "data.yaml", "val")


# --- the metadata contract ---------------------------------------------------------------------------------

GOOD = {"model": "m", "task": "classification", "precision": "fp32", "labels": ["a", "b"], "num_classes": 2,
        "preprocess": {"input_size": 16, "mode": "resize", "resize_size": None, "interpolation": "bilinear",
                       "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "colour": "RGB", "layout": "NCHW",
                       "pad_value": 114},
        "outputs": [{"name": "logits", "role": "logits"}],
        "detection": {"nms": {"conf_thres": 0.25, "iou_thres": 0.45, "max_det": 300, "class_agnostic": False}}}
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 40000), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=6), st.lists(st.floats(-2, 2), max_size=4), st.just({}), st.just([]))


def _mutate(meta: dict, path: tuple, value):
    out = json.loads(json.dumps(meta))
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


PATHS = [("model",), ("task",), ("labels",), ("num_classes",), ("outputs",), ("detection",), ("detection", "nms"),
         *((("preprocess", k),) for k in GOOD["preprocess"]),
         *((("detection", "nms", k),) for k in GOOD["detection"]["nms"])]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), VALUES), min_size=1, max_size=3))
def test_mutated_metadata_is_accepted_only_when_every_step_can_use_it(edits):
    """Whatever the contract accepts, the pipeline prepares an image with and decodes outputs with, finitely."""
    from edgecv.portable.contract import check_metadata
    from edgecv.portable.postprocess import Pipeline

    meta = GOOD
    for path, value in edits:
        try:
            meta = _mutate(meta, path, value)
        except (TypeError, KeyError):
            return
    if _edgecv_error_or_ok(lambda: check_metadata(meta, "m.onnx")) is None:
        return
    pipe = _edgecv_error_or_ok(lambda: Pipeline(meta))
    if pipe is None:
        return
    x, geo = pipe.prepare(np.full((10, 12, 3), 100, np.uint8))
    assert np.isfinite(x).all()
    if meta.get("task") == "classification":
        preds = pipe.predictions({"logits": np.array([[1.0, 2.0]], np.float32)}, geo, (10, 12), 2)
        assert all(np.isfinite(p["score"]) for p in preds)


def _with_metadata(tmp_path: Path, name: str, text: str) -> Path:
    import onnx

    model = onnx.load(str(SQUEEZENET))
    entry = model.metadata_props.add()
    entry.key, entry.value = "edgecv", text
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_one_file_with_broken_metadata_fails_its_row_not_the_folders_profile(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    _with_metadata(folder, "bad-json.onnx", "{not json")
    _with_metadata(folder, "bad-model.onnx", json.dumps({"model": 123, "task": "classification"}))
    (folder / "fine.onnx").write_bytes(SQUEEZENET.read_bytes())
    ran = subprocess.run([EDGECV, "profile", str(folder), "--out", str(tmp_path / "o"), *FAST], capture_output=True,
                         text=True, timeout=600)
    assert ran.returncode == 1 and "Traceback" not in ran.stderr, ran.stderr[-2000:]
    rows = {r["target"].rsplit("/", 1)[-1]: r for r in json.loads((tmp_path / "o" / "results.json").read_text())["rows"]}
    assert rows["fine.onnx"]["status"] == "ok"
    assert "not valid JSON" in rows["bad-json.onnx"]["error"] and "metadata model" in rows["bad-model.onnx"]["error"]
    assert (tmp_path / "o" / "report.md").is_file()


def test_the_contracts_enumerations_are_the_preprocess_contracts():
    """The portable core cannot import the host, so the names are written twice; this keeps them one fact."""
    from typing import get_args

    from edgecv import preprocess
    from edgecv.portable import contract
    from edgecv.tasks import TASKS

    assert set(get_args(preprocess.Mode)) == set(contract.MODES)
    assert set(get_args(preprocess.Interpolation)) == set(contract.INTERPOLATIONS)
    assert set(get_args(preprocess.Colour)) == set(contract.COLOURS)
    assert set(get_args(preprocess.Layout)) == set(contract.LAYOUTS)
    assert set(TASKS) == set(contract.TASK_NAMES)
