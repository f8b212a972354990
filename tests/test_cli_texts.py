"""What the CLI and the device script say, word for word where a user reads it (issue 27)."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import numpy as np
from click.testing import CliRunner

from edgecv.cli import cli


def test_help_names_every_metric_and_every_kind_of_data():
    assert "mIoU" in CliRunner().invoke(cli, ["eval", "--help"]).output
    train = " ".join(CliRunner().invoke(cli, ["train", "--help"]).output.split())
    assert "shapes-seg" in train and "Pascal VOC segmentation folders" in train


def test_one_cell_is_one_cell():
    from edgecv.profiler.progress import Progress

    stream = io.StringIO()
    Progress(stream).start(1, ["onnxruntime"])
    assert "measuring 1 cell, each" in stream.getvalue()


def test_the_device_script_without_pillow_names_the_package_that_reads_jpeg(tmp_path, monkeypatch):
    from edgecv.portable import image
    from edgecv.portable.errors import DeviceError

    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    try:
        image._read_without_pillow(tmp_path / "a.jpg")
    except DeviceError as exc:
        assert "pip install pillow" in str(exc)
    else:
        raise AssertionError("a JPEG read without Pillow")


def test_the_device_script_prints_segmentation_shares_as_percent_like_the_host():
    from edgecv.portable.cli import print_predictions

    report = {"results": [{"image": "a.png", "mask": "a-mask.png", "predictions": [
        {"class": 0, "label": "background", "score": 0.912}]}],
        "timing": {"images": 1, "init_ms": 1.0, "first_ms": 1.0, "p50_ms": 1.0},
        "environment": {"runtime": "litert", "runtime_version": "x", "machine": "m"}}
    out = io.StringIO()
    with redirect_stdout(out):
        print_predictions(report)
    assert " 91.2%  background" in out.getvalue() and "0.912" not in out.getvalue()


def test_runtime_options_reach_onnxruntime():
    """allow_spinning=False (busy_threads.py measures it) is an option like any other."""
    import onnx

    from edgecv.runtimes import load

    light = __import__("pathlib").Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
    with load(light / "light_squeezenet.onnx", threads=2, allow_spinning=False) as session:
        x = np.zeros([1 if d is None else d for d in session.inputs[0].shape], np.float32)
        assert session.run(x)
