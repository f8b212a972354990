"""The runtime interface: input checks, quantization, batching, the registry and plugins, and agreement of
onnxruntime, LiteRT and PyTorch on the same exported models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import edgecv
from edgecv.errors import EdgecvError, MissingDependencyError, UsageError
from edgecv.exporters.parity import compare, judge
from edgecv.runtimes import Runtime, Session, TensorInfo, get_runtime, predictor, runtime_for, runtime_names

EDGECV = str(Path(sys.executable).with_name("edgecv"))


class Echo(Session):
    """Returns its input (dequantized by the base class on the way out) and counts calls."""

    def __init__(self, info: TensorInfo, out_info: TensorInfo | None = None, metadata=None):
        self.inputs, self.outputs = [info], [out_info or TensorInfo("y", info.shape, info.dtype, info.scale,
                                                                    info.zero_point)]
        self.metadata, self.calls = metadata, []

    def _infer(self, feeds):
        x = next(iter(feeds.values()))
        self.calls.append(x.copy())
        return [x]


def test_run_takes_an_array_or_a_dict_and_returns_outputs_by_name():
    s = Echo(TensorInfo("x", (None, 3, 4, 4), np.dtype(np.float32)))
    x = np.ones((2, 3, 4, 4), np.float32)
    assert list(s.run(x)) == ["y"] and np.array_equal(s.run({"x": x})["y"], x)
    with pytest.raises(UsageError, match="no input named z"):
        s.run({"z": x})


def test_a_transposed_image_batch_is_named_as_the_wrong_layout():
    s = Echo(TensorInfo("x", (1, 8, 8, 3), np.dtype(np.float32)))
    with pytest.raises(UsageError, match=r"that is NCHW but the model takes NHWC: x.transpose\(0, 2, 3, 1\)"):
        s.run(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(UsageError, match="takes shape"):
        s.run(np.zeros((1, 8, 8), np.float32))


def test_int8_inputs_are_quantized_with_the_file_scale_and_outputs_dequantized():
    info = TensorInfo("x", (1, 4), np.dtype(np.int8), scale=0.5, zero_point=-3)
    s = Echo(info)
    y = s.run(np.array([[0.0, 1.0, -1.0, 100.0]], np.float32))["y"]
    assert s.calls[-1].tolist() == [[-3, -1, -5, 127]]  # round(x / 0.5) - 3, clipped to int8
    assert y.dtype == np.float32 and y.tolist() == [[0.0, 1.0, -1.0, 65.0]]
    raw = np.array([[1, 2, 3, 4]], np.int8)  # already quantized: passed through untouched
    s.run(raw)
    assert s.calls[-1].tolist() == raw.tolist()
    assert s.run(raw, raw=True)["y"].dtype == np.int8


def test_fp16_models_take_and_give_float32():
    s = Echo(TensorInfo("x", (None, 4), np.dtype(np.float16)))
    y = s.run(np.ones((1, 4), np.float32))["y"]
    assert s.calls[-1].dtype == np.float16 and y.dtype == np.float32


def test_an_unnormalised_uint8_image_is_refused_by_a_float_model():
    s = Echo(TensorInfo("x", (None, 3, 4, 4), np.dtype(np.float32)))
    with pytest.raises(UsageError, match="takes float32, got uint8"):
        s.run(np.zeros((1, 3, 4, 4), np.uint8))


def test_a_fixed_batch_model_is_fed_any_number_of_items_in_padded_chunks():
    s = Echo(TensorInfo("x", (2, 3), np.dtype(np.float32)))
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    y = s.run(x)["y"]
    assert np.array_equal(y, x) and [c.shape[0] for c in s.calls] == [2, 2, 2]


def test_registry_lists_the_built_ins_and_picks_a_runtime_by_file_type():
    assert runtime_names()[:4] == ["onnxruntime", "litert", "openvino", "torch"]
    assert runtime_for("m.onnx") == "onnxruntime" and runtime_for("m.tflite") == "litert"  # the first that opens it
    assert runtime_for("m.xml") == "openvino"
    assert runtime_for("mobilenet_v2") == "torch" and runtime_for("run/best.safetensors") == "torch"
    with pytest.raises(UsageError, match="unknown runtime 'nope'"):
        get_runtime("nope")
    with pytest.raises(UsageError, match="no runtime opens m.xyz"):
        runtime_for("m.xyz")


def test_a_runtime_whose_package_is_missing_says_how_to_install_it(tmp_path):
    class Missing(Runtime):
        name, suffixes, requires, install = "missing", (".onnx",), ("no_such_module_xyz",), "pip install xyz"

        def _open(self, path, provider, threads, **options):
            raise AssertionError("never reached")

    ok, why = Missing().available()
    assert not ok and "pip install xyz" in why
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    with pytest.raises(MissingDependencyError, match="the missing runtime cannot run here: .*pip install xyz"):
        Missing().open(model)


def test_a_third_party_runtime_plugs_in_through_an_entry_point(tmp_path, zoo_artifacts):
    """A package that edgecv has never heard of adds a runtime; `edgecv runtimes` and predict use it."""
    (tmp_path / "echo_runtime.py").write_text(textwrap.dedent("""
        from edgecv.runtimes import Runtime
        from edgecv.runtimes.onnxruntime import OnnxRuntimeSession

        class EchoOnnx(Runtime):
            name = "echo-ort"
            suffixes = (".onnx",)
            requires = ("onnxruntime",)
            def _open(self, path, provider, threads, **options):
                return OnnxRuntimeSession(path, threads=threads)
    """))
    info = tmp_path / "echo_runtime-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-runtime\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[edgecv.runtimes]\necho-ort = echo_runtime:EchoOnnx\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    ran = subprocess.run([EDGECV, "runtimes", "--json"], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    listed = json.loads(ran.stdout)
    assert {"name": "echo-ort", "available": True} .items() <= next(
        r for r in listed["runtimes"] if r["name"] == "echo-ort").items()
    art = zoo_artifacts[("mobilenet_v2", "onnx", "fp32")]
    x = np.zeros((1, 64, 64, 3), np.uint8)
    image = tmp_path / "black.png"
    from PIL import Image

    Image.fromarray(x[0]).save(image)
    out = subprocess.run([EDGECV, "predict", str(art.path), str(image), "--runtime", "echo-ort", "--json"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["runtime"] == "echo-ort"


def test_missing_gpu_provider_is_an_error_not_a_silent_cpu_fallback(zoo_artifacts):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA; see test_cuda_and_tensorrt_agree_with_cpu")
    with pytest.raises(MissingDependencyError, match="no CUDAExecutionProvider.*onnxruntime-gpu"):
        edgecv.load(zoo_artifacts[("mobilenet_v2", "onnx", "fp32")].path, provider="cuda")
    with pytest.raises(UsageError, match="has no provider 'metal'"):
        edgecv.load(zoo_artifacts[("mobilenet_v2", "onnx", "fp32")].path, provider="metal")


@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_cuda_and_tensorrt_agree_with_cpu(zoo_artifacts, provider):
    import onnxruntime as ort

    ep = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[provider]
    if ep not in ort.get_available_providers():
        pytest.skip(f"no {ep} here (needs onnxruntime-gpu and an NVIDIA GPU)")
    art = zoo_artifacts[("mobilenet_v2", "onnx", "fp32")]
    x = np.random.default_rng(0).standard_normal((4, 3, 64, 64)).astype(np.float32)
    ref = edgecv.load(art.path).run(x)["logits"]
    with edgecv.load(art.path, provider=provider) as gpu:
        out = gpu.run(x)["logits"]
    assert judge(compare(ref, out, "classification"), "fp16", "classification") == []


def test_sessions_describe_themselves_and_close(zoo_artifacts):
    art = zoo_artifacts[("mobilenet_v2", "tflite", "int8")]
    with edgecv.load(art.path, threads=1) as s:
        d = s.describe()
    assert d["runtime"] == "litert" and d["device"] == "host" and d["emulated"] is False
    assert d["inputs"][0]["shape"] == [1, 64, 64, 3] and d["init_ms"] > 0
    assert s.metadata["precision"] == "int8"


def test_bad_model_files_get_one_line_errors(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage")
    with pytest.raises(EdgecvError, match="onnxruntime cannot load junk.onnx"):
        edgecv.load(junk)
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64)
    with pytest.raises(EdgecvError, match="fake.tflite"):
        edgecv.load(fake)
    with pytest.raises(UsageError, match="model file not found"):
        edgecv.load(tmp_path / "absent.onnx")


def _parity_images(artifact) -> np.ndarray:
    """The images export's parity check uses (64 val images, seed 1), NCHW."""
    from edgecv.exporters.calibration import load_images
    from edgecv.preprocess import Preprocess

    meta = artifact.metadata
    x, _ = load_images(meta["source"]["data"], Preprocess.from_dict(meta["preprocess"]), 64, "val", seed=1)
    return x


@pytest.mark.parametrize("model", ["mobilenet_v2", "yolo_n"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnxruntime_litert_and_torch_agree_within_the_precision_tolerance(zoo_artifacts, model, precision):
    """The same images through PyTorch, onnxruntime (.onnx) and LiteRT (.tflite), judged per precision."""
    onnx_art, tfl_art = zoo_artifacts[(model, "onnx", precision)], zoo_artifacts[(model, "tflite", precision)]
    x = _parity_images(onnx_art)  # NCHW
    task = onnx_art.metadata["task"]
    with edgecv.load(model, imgsz=64) as torch_session:
        reference = predictor(torch_session)(x)
    outputs = {"onnxruntime": predictor(edgecv.load(onnx_art.path))(x),
               "litert": predictor(edgecv.load(tfl_art.path))(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))}
    for runtime, out in outputs.items():
        metrics = compare(reference, out, task)
        assert judge(metrics, precision, task) == [], (runtime, metrics)
    if precision == "fp32":  # two different converters, two runtimes: still the same numbers to ~1e-4
        a, b = outputs.values()
        a, b = (a, b) if task == "classification" else (a[1], b[1])
        assert np.abs(a - b).max() < 1e-3


def test_a_model_with_an_unknown_custom_op_fails_naming_the_op(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("FancyWarp", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path = tmp_path / "custom.onnx"
    onnx.save(model, path)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(image)
    out = subprocess.run([EDGECV, "predict", str(path), str(image)], capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.strip() == (
        "edgecv: error: custom.onnx uses an operator onnxruntime does not have: com.example:FancyWarp")


def test_eval_refuses_options_that_do_not_fit_the_target(zoo_artifacts):
    art = str(zoo_artifacts[("mobilenet_v2", "onnx", "fp32")].path)
    for args in ([art, "--weights", "w.safetensors"], ["mobilenet_v2", "--device", "rpi4"]):
        out = subprocess.run([EDGECV, "eval", *args], capture_output=True, text=True)
        assert out.returncode == 2 and out.stderr.startswith("edgecv: error: ") and out.stderr.count("\n") == 1
    ok = subprocess.run([EDGECV, "eval", art, "--limit", "20", "--json"], capture_output=True, text=True, check=True)
    result = json.loads(ok.stdout)
    assert result["runtime"] == "onnxruntime" and result["data"] == "shapes" and result["metrics"]["images"] == 20
