"""Files as they come from other tools: TFLite without a SignatureDef, ONNX with dynamic axes, uint8 NHWC
inputs, inputs nobody can synthesise -- and the row records exactly what was timed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import pinned, strip_tflite_tables

import edgecv
from edgecv.devices.script import write_device_script

EDGECV = str(Path(sys.executable).with_name("edgecv"))
FAST = ["--iters", "5", "--min-time", "0", "--warmup", "1"]
LIGHT = Path(__import__("onnx").__file__).parent / "backend" / "test" / "data" / "light"


def _profile(args, env=None):
    return subprocess.run([EDGECV, *pinned(["profile", *args])], capture_output=True, text=True, env=env)


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["rows"]


@pytest.fixture(scope="module")
def unsigned(zoo_artifacts, tmp_path_factory):
    """MobileNetV2 .tflite fp32 and int8 with the signature stripped, and one stripped of edgecv's metadata too."""
    folder = tmp_path_factory.mktemp("unsigned")
    files = {}
    for precision in ("fp32", "int8"):
        src = zoo_artifacts[("mobilenet_v2", "tflite", precision)].path
        files[precision] = folder / f"unsigned-{precision}.tflite"
        files[precision].write_bytes(strip_tflite_tables(src.read_bytes()))
    files["bare"] = folder / "bare.tflite"  # neither signature nor metadata: a file from another tool
    files["bare"].write_bytes(strip_tflite_tables(zoo_artifacts[("mobilenet_v2", "tflite", "int8")].path.read_bytes(),
                                                  metadata=True))
    return files


@pytest.fixture(scope="module")
def dynamic_detector(tmp_path_factory):
    """A detector exported the way Ultralytics' dynamic=True does: input ['batch', 3, 'height', 'width']."""
    import torch

    from edgecv.models import create_model

    path = tmp_path_factory.mktemp("dynamic") / "detector.onnx"
    net = create_model("yolo_n").eval()
    torch.onnx.export(net, (torch.zeros(1, 3, 64, 64),), str(path), input_names=["images"], dynamo=False,
                      dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}}, opset_version=17)
    return path


def test_a_tflite_without_signature_runs_like_the_signed_file(zoo_artifacts, unsigned):
    from ai_edge_litert.interpreter import Interpreter

    for precision in ("fp32", "int8"):
        assert Interpreter(model_path=str(unsigned[precision])).get_signature_list() == {}
        signed = zoo_artifacts[("mobilenet_v2", "tflite", precision)].path
        x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
        with edgecv.load(unsigned[precision]) as session:
            assert session.model.signature is None and len(session.inputs) == 1
            ours = list(session.run(x).values())
        theirs = list(edgecv.load(signed).run(x).values())
        assert len(ours) == len(theirs) and np.array_equal(ours[0], theirs[0])


def test_the_device_script_reads_and_times_a_tflite_without_signature(unsigned, tmp_path):
    script = write_device_script(tmp_path / "edgecv_device.pyz")
    info = subprocess.run([sys.executable, "-I", str(script), "info", str(unsigned["bare"])], capture_output=True,
                          text=True)
    assert info.returncode == 0, info.stderr
    facts = json.loads(info.stdout)
    assert facts["metadata"] is None and facts["inputs"][0]["shape"] == [1, 64, 64, 3]
    assert facts["environment"]["cpu"] and not facts["environment"]["cpu"].isdigit()  # "model name", not "model"
    bench = subprocess.run([sys.executable, "-I", str(script), "bench", str(unsigned["bare"]), "--iters", "3",
                            "--json"], capture_output=True, text=True)
    assert bench.returncode == 0 and json.loads(bench.stdout)["latency_ms"]["p50"] > 0, bench.stderr


def test_profile_gives_unsigned_and_bare_tflite_files_ok_rows_with_their_inputs(unsigned, tmp_path):
    out = tmp_path / "out"
    ran = _profile([str(unsigned["fp32"]), str(unsigned["bare"]), "--out", str(out), *FAST])
    assert ran.returncode == 0, ran.stderr[-2000:]
    rows = {r["model"]: r for r in _rows(out)}
    fp32, bare = rows["mobilenet_v2"], rows["bare"]
    assert fp32["status"] == bare["status"] == "ok"
    assert fp32["top1"] is not None  # its metadata says how to score it (and on what)
    assert fp32["inputs"] == [{"name": fp32["inputs"][0]["name"], "shape": [1, 64, 64, 3], "dtype": "float32"}]
    # no data named: the bare file is timed, and its note says what to state for an accuracy
    assert bare["top1"] is None and any("does not say how images are prepared" in n for n in bare["notes"])
    assert "--preprocess" in ran.stderr
    assert "1x64x64x3 f32" in (out / "report.md").read_text()
    assert "1x64x64x3 f32" in (out / "results.csv").read_text()
    # --data means accuracy: a row that cannot be scored fails with the reason, and the run exits 1
    ran = _profile([str(unsigned["bare"]), "--data", "shapes", "--limit", "16", "--out", str(tmp_path / "d"), *FAST])
    assert ran.returncode == 1 and "does not say how images are prepared" in ran.stderr
    assert _rows(tmp_path / "d")[0]["status"] == "failed"


def test_a_dynamic_detector_at_two_sizes_gives_two_rows_whose_latency_grows_with_pixels(dynamic_detector, tmp_path):
    rows = {}
    for size in ("64", "256"):
        out = tmp_path / size
        ran = _profile([str(dynamic_detector), "--imgsz", size, "--out", str(out), "--iters", "10", "--min-time",
                        "0.3", "--warmup", "2", "--threads", "1"])
        assert ran.returncode == 0, ran.stderr[-2000:]
        (rows[size],) = _rows(out)
    assert rows["64"]["inputs"][0]["shape"] == [1, 3, 64, 64]
    assert rows["256"]["inputs"][0]["shape"] == [1, 3, 256, 256]
    assert rows["256"]["latency_ms"]["p50"] > 4 * rows["64"]["latency_ms"]["p50"]  # 16x the pixels


def test_a_dynamic_input_without_imgsz_is_timed_at_640_and_says_so(dynamic_detector, tmp_path):
    out = tmp_path / "out"
    ran = _profile([str(dynamic_detector), "--out", str(out), *FAST])
    assert ran.returncode == 0, ran.stderr[-2000:]
    (row,) = _rows(out)
    assert row["inputs"][0]["shape"] == [1, 3, 640, 640]
    assert any("timed at 640x640" in n for n in row["notes"]) and "timed at 640x640" in ran.stderr


def test_input_shape_sets_every_dim_and_a_rectangular_imgsz_works(dynamic_detector, tmp_path):
    ran = _profile([str(dynamic_detector), "--input-shape", "images=2x3x96x128", "--out", str(tmp_path / "a"), *FAST])
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert _rows(tmp_path / "a")[0]["inputs"][0]["shape"] == [2, 3, 96, 128]
    ran = _profile([str(dynamic_detector), "--imgsz", "64x96", "--batch", "2", "--out", str(tmp_path / "b"), *FAST])
    assert ran.returncode == 0, ran.stderr[-2000:]
    (row,) = _rows(tmp_path / "b")
    assert row["inputs"][0]["shape"] == [1, 3, 64, 96] and row["imgsz"] == "64x96" and row["throughput_ips"] > 0


def test_a_dynamic_batch_variant_of_a_light_model_takes_the_batch(tmp_path):
    import onnx

    model = onnx.load(str(LIGHT / "light_squeezenet.onnx"))
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    path = tmp_path / "squeezenet_dyn.onnx"
    onnx.save(model, str(path))
    ran = _profile([str(path), "--batch", "4", "--out", str(tmp_path / "out"), *FAST])
    assert ran.returncode == 0, ran.stderr[-2000:]
    (row,) = _rows(tmp_path / "out")
    assert row["inputs"][0]["shape"] == [1, 3, 224, 224] and row["throughput_ips"] > 0  # latency at batch 1


def test_uint8_nhwc_inputs_are_fed_as_uint8_and_unsynthesisable_inputs_fail_their_row_by_name(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Cast", ["pixels"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Transpose", ["f"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["nchw", "w"], ["y"])]
    graph = helper.make_graph(nodes, "u8", [helper.make_tensor_value_info("pixels", TensorProto.UINT8,
                                                                          ["n", "h", "w", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    folder = tmp_path / "models"
    folder.mkdir()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "u8.onnx")
    text = helper.make_graph([helper.make_node("Identity", ["words"], ["out"])], "s",
                             [helper.make_tensor_value_info("words", TensorProto.STRING, [1])],
                             [helper.make_tensor_value_info("out", TensorProto.STRING, [1])])
    onnx.save(helper.make_model(text, opset_imports=[helper.make_opsetid("", 17)]), folder / "strings.onnx")
    ran = _profile([str(folder), "--imgsz", "32", "--out", str(tmp_path / "out"), *FAST])
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    rows = {r["model"]: r for r in _rows(tmp_path / "out")}
    assert rows["u8"]["status"] == "ok" and rows["u8"]["inputs"] == [
        {"name": "pixels", "shape": [1, 32, 32, 3], "dtype": "uint8"}]
    assert rows["strings"]["status"] == "failed" and "'words'" in rows["strings"]["error"]


def test_input_shape_errors_name_the_input(dynamic_detector, tmp_path):
    ran = _profile([str(dynamic_detector), "--input-shape", "pixels=1x3x64x64", "--out", str(tmp_path / "a"), *FAST])
    (row,) = _rows(tmp_path / "a")
    assert ran.returncode == 1 and "pixels" in row["error"] and "images" in row["error"]
    for args in (["--input-shape", "images"], ["--imgsz", "4"], ["--imgsz", "big"]):
        bad = _profile([str(dynamic_detector), *args, "--out", str(tmp_path / "b")])
        assert bad.returncode == 2 and bad.stderr.startswith("edgecv: error:"), (args, bad.stderr)
    zoo = _profile(["mobilenet_v2", "--imgsz", "64x96", "--out", str(tmp_path / "c")])
    assert zoo.returncode == 2 and "square" in zoo.stderr


def test_peak_memory_is_each_cells_own(tmp_path):
    """A 4 KB model and one with 128 MB of weights, profiled together: their peaks differ by the weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(LIGHT / "light_squeezenet.onnx", folder / "small.onnx")
    big = numpy_helper.from_array(np.ones((4096, 8192), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "big",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4096])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8192])], [big])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "big.onnx")
    ran = _profile([str(folder), "--out", str(tmp_path / "out"), *FAST])
    assert ran.returncode == 0, ran.stderr[-2000:]
    rows = {r["model"]: r for r in _rows(tmp_path / "out")}
    assert rows["big"]["peak_mem_mb"] - rows["small"]["peak_mem_mb"] > 100


def test_a_quantized_tflite_with_int8_input_and_no_signature_is_fed_int8(tmp_path):
    """The common quantized .tflite from other tools: int8 NHWC input with its own scale, no SignatureDef."""
    (art,) = edgecv.export("mobilenet_v2", "tflite", "int8", data="shapes", imgsz=32, out=tmp_path / "x",
                           calib_samples=16, parity_samples=0, float_io=False)
    path = tmp_path / "quantized.tflite"
    path.write_bytes(strip_tflite_tables(art.path.read_bytes(), metadata=True))
    (art.path.with_name(art.path.name + ".json")).unlink(missing_ok=True)
    ran = _profile([str(path), "--out", str(tmp_path / "out"), *FAST])
    assert ran.returncode == 0, ran.stderr[-2000:]
    (row,) = _rows(tmp_path / "out")
    assert row["status"] == "ok" and row["inputs"][0]["shape"] == [1, 32, 32, 3]
    assert row["inputs"][0]["dtype"] == "int8" and "1x32x32x3 i8" in (tmp_path / "out" / "report.md").read_text()
