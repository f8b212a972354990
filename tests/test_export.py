"""``edgecv export`` end to end: real converters, real runtimes, real images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgecv
from edgecv.artifact import read_metadata
from edgecv.cli import cli
from edgecv.runtimes import load, predictor

pytest.importorskip("onnxruntime")
HAVE_TFLITE = all(__import__("importlib").util.find_spec(m) for m in ("litert_torch", "ai_edge_quantizer", "ai_edge_litert"))
FORMATS = "onnx,tflite" if HAVE_TFLITE else "onnx"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def classifier_exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    arts = edgecv.export("mobilenet_v2", FORMATS, "fp32,fp16,int8", data="shapes", out=out, calib_samples=32,
                         parity_samples=32, threads=2)
    return out, {(a.format, a.precision): a for a in arts}


def test_every_format_and_precision_is_written_with_a_summary(classifier_exports):
    out, arts = classifier_exports
    names = sorted(p.name for p in out.iterdir())
    assert "mobilenet_v2-64-int8.onnx" in names and "mobilenet_v2-64-export.json" in names
    assert not [n for n in names if n.startswith(".")]  # no temporary files left behind
    summary = json.loads((out / "mobilenet_v2-64-export.json").read_text())
    assert len(summary["artifacts"]) == len(arts) and summary["failures"] == []
    assert summary["source"]["weights_sha256"]


def test_sizes_shrink_with_precision(classifier_exports):
    _, arts = classifier_exports
    for fmt in {f for f, _ in arts}:
        fp32 = arts[fmt, "fp32"].size_bytes
        assert arts[fmt, "fp16"].size_bytes <= 0.6 * fp32
        assert arts[fmt, "int8"].size_bytes <= 0.4 * fp32


def test_int8_onnx_holds_int8_weights_and_uint8_activations(classifier_exports):
    import onnx

    _, arts = classifier_exports
    model = onnx.load(str(arts["onnx", "int8"].path))
    weight_types = {i.data_type for i in model.graph.initializer if len(i.dims) == 4}
    assert weight_types == {onnx.TensorProto.INT8}
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)


def test_parity_against_pytorch_is_within_tolerance(classifier_exports):
    _, arts = classifier_exports
    for art in arts.values():
        assert art.parity["failed"] == [], (art.path.name, art.parity)
        assert art.parity["images"] == 32
    assert arts["onnx", "fp32"].parity["max_abs_error"] < 1e-3
    assert arts["onnx", "fp32"].parity["top1_agreement"] == 100.0


def test_metadata_lets_a_runtime_run_the_file_alone(classifier_exports):
    from edgecv.data import get_dataset
    from edgecv.preprocess import Preprocess
    from edgecv.scoring import Evaluator

    _, arts = classifier_exports
    for art in arts.values():
        meta = read_metadata(art.path)
        assert meta["task"] == "classification" and meta["precision"] == art.precision
        assert len(meta["labels"]) == meta["num_classes"] == 12
        assert meta["source"]["target"] == "mobilenet_v2"
        assert meta["preprocess"]["layout"] == ("NHWC" if art.format == "tflite" else "NCHW")
        # evaluate from the file and its metadata only
        pre = Preprocess.from_dict(meta["preprocess"])
        ds = get_dataset("shapes", "val", imgsz=pre.input_size, limit=64)
        top1 = Evaluator(ds, pre)(predictor(load(art.path, threads=2), meta))["top1"]
        assert top1 > 80, art.path.name


@pytest.mark.skipif(not HAVE_TFLITE, reason="needs edgecv[tflite]")
def test_tflite_int8_with_native_io_takes_int8_and_records_its_quantization(tmp_path):
    arts = edgecv.export("mobilenet_v2", "tflite", "int8", data="shapes", out=tmp_path, calib_samples=16,
                         parity_samples=16, float_io=False, layout="NCHW")
    meta = arts[0].metadata
    assert meta["inputs"][0]["dtype"] == "int8" and meta["inputs"][0]["quantization"]["scale"] > 0
    assert meta["inputs"][0]["shape"] == [1, 3, 64, 64]
    assert arts[0].path.name == "mobilenet_v2-64-int8-nchw.tflite"
    assert arts[0].parity["failed"] == []


def test_detection_export_keeps_box_decoding_float(tmp_path):
    import onnx

    arts = edgecv.export("yolo_n", FORMATS, "int8", data="shapes-det", imgsz=64, out=tmp_path, calib_samples=16,
                         parity_samples=16)
    for art in arts:
        meta = art.metadata
        assert [o["role"] for o in meta["outputs"]] == ["boxes", "scores"]
        assert meta["detection"]["nms"]["iou_thres"] == 0.45
        assert art.parity["box_iou"] > 0.8, art.parity
    model = onnx.load(str(arts[0].path))
    softmax = [n for n in model.graph.node if n.op_type == "Softmax"]
    assert softmax and all(not i.endswith("DequantizeLinear") for i in softmax[0].input)


def test_a_users_own_module_exports(tmp_path):
    module = tmp_path / "mynet.py"
    module.write_text("import torch\n\ndef build():\n    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), "
                      "torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5))\n")
    result = run("export", f"{module}:build", "--imgsz", "32", "--data", "shapes", "--parity-samples", "8",
                 "--out", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    art = json.loads(result.output)["artifacts"][0]
    assert Path(art["path"]).name == "build-32-fp32.onnx" and art["parity"]["failed"] == []


@pytest.mark.parametrize("args, message", [
    (["mobilenet_v2", "--precision", "int4"], "unknown precision"),
    (["mobilenet_v2", "--format", "coreml"], "unknown export format"),
    (["no_such_model"], "no_such_model"),
    (["mobilenet_v1", "--precision", "int8"], "needs real calibration images"),
    (["mobilenet_v2", "--format", "onnx", "--precision", "int8-dynamic"], "does not support int8-dynamic"),
    (["mobilenet_v2", "--format", "onnx", "--layout", "NHWC"], "does not support NHWC"),
    (["mobilenet_v2", "--format", "tflite", "--dynamic-batch"], "--dynamic-batch"),
    (["mobilenet_v2", "--format", "tflite", "--precision", "int8", "--calib-method", "entropy"],
     "calibrates with minmax, percentile, ema only"),
    (["mobilenet_v2", "--format", "onnx", "--precision", "int8", "--calib-method", "ema"],
     "calibrates with minmax, percentile, entropy only"),
    (["mobilenet_v2", "--precision", "int8", "--calib-method", "kl"], "unknown calibration method 'kl'"),
    (["missing.py:build"], "module file not found"),
    (["mobilenet_v2", "--precision", "int8", "--data", "/no/such/folder"], "no dataset"),
])
def test_bad_requests_exit_2_with_one_line_and_write_nothing(tmp_path, args, message):
    result = run("export", *args, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("edgecv: error:") and message in lines[-1], result.output
    assert not (tmp_path / "out").exists()


def test_a_converter_failure_names_what_broke_and_keeps_the_summary(tmp_path):
    module = tmp_path / "badnet.py"
    module.write_text("import torch\n\nclass Bad(torch.nn.Module):\n    def __init__(self):\n"
                      "        super().__init__()\n        self.fc = torch.nn.Linear(3, 4)\n\n"
                      "    def forward(self, x):\n        m = x.mean((2, 3))\n"
                      "        return self.fc(m)[:, : int(m.sum().item() > 0) + 3]  # data-dependent shape\n\n"
                      "def build():\n    return Bad()\n")
    out = tmp_path / "out"
    result = run("export", f"{module}:build", "--imgsz", "32", "--parity-samples", "0", "--out", str(out))
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("edgecv: error:") and "data-dependent" in last, result.output
    summary = json.loads((out / "build-32-export.json").read_text())
    assert summary["artifacts"] == [] and "data-dependent" in summary["failures"][0]
    assert not (out / "build-32-fp32.onnx").exists()


def test_evaluating_on_data_of_another_task_is_refused(tmp_path):
    result = run("export", "mobilenet_v2", "--data", "shapes-det", "--evaluate", "--parity-samples", "0",
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "detection data" in result.output.strip().splitlines()[-1]


def test_a_data_folder_without_val_is_named_before_calibrating(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "data" / "train" / cls).mkdir(parents=True)
        for k in range(2):
            Image.new("RGB", (16, 16), (k * 90, 0, 0)).save(tmp_path / "data" / "train" / cls / f"{k}.png")
    result = run("export", "mobilenet_v2", "--precision", "int8", "--data", str(tmp_path / "data"), "--imgsz", "32",
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "calibration:" not in result.output and "val split" in result.output and "--parity-samples 0" in result.output
