"""Export building blocks without a converter: names, metadata containers, graph passes, parity maths,
and the runtime session's dtype handling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgecv.artifact import artifact_name, onnx_metadata_props, read_metadata, tflite_metadata
from edgecv.errors import UsageError
from edgecv.exporters.parity import compare, judge, matched_box_iou

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgecv.exporters.onnx import float_tail, global_average_pool  # noqa: E402


def test_artifact_names_carry_model_size_precision_and_departures_from_defaults():
    assert artifact_name("mobilenet_v2", 224, "int8", "tflite") == "mobilenet_v2-224-int8.tflite"
    assert artifact_name("yolo_n", 640, "fp16", "onnx", batch=8) == "yolo_n-640-fp16-b8.onnx"
    assert artifact_name("yolo_n", 640, "fp32", "onnx", batch=None) == "yolo_n-640-fp32-dyn.onnx"
    assert artifact_name("lenet5", 32, "fp32", "tflite", layout="NCHW") == "lenet5-32-fp32-nchw.tflite"
    assert artifact_name("lenet5", 32, "fp32", "onnx", layout="NCHW") == "lenet5-32-fp32.onnx"


def _conv_graph(tail_ops=("Softmax",), reduce_mean=False):
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu")]
    last = "r1"
    if reduce_mean:
        axes = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
        nodes.append(helper.make_node("ReduceMean", ["r1", "axes"], ["m"], name="mean", keepdims=1))
        last = "m"
    w2 = numpy_helper.from_array(np.ones((2, 4, 1, 1), np.float32), "w2")
    nodes.append(helper.make_node("Conv", [last, "w2"], ["c2"], name="conv2"))
    last = "c2"
    for k, op in enumerate(tail_ops):
        nodes.append(helper.make_node(op, [last], [f"t{k}"], name=f"tail{k}"))
        last = f"t{k}"
    inits = [w, w2] + ([axes] if reduce_mean else [])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return model


def test_float_tail_is_everything_after_the_last_heavy_op():
    model = _conv_graph(tail_ops=("Softmax", "Sigmoid"))
    assert float_tail(model) == ["tail0", "tail1"]
    assert float_tail(_conv_graph(tail_ops=())) == []


def test_reduce_mean_over_hw_becomes_global_average_pool_with_identical_values():
    model = _conv_graph(reduce_mean=True)
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    before = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    rewritten = global_average_pool(model)
    assert [n.op_type for n in rewritten.graph.node].count("GlobalAveragePool") == 1
    assert "ReduceMean" not in [n.op_type for n in rewritten.graph.node]
    after = ort.InferenceSession(rewritten.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)


def test_onnx_metadata_is_read_without_the_onnx_package(tmp_path):
    model = _conv_graph()
    helper.set_model_props(model, {"edgecv": json.dumps({"task": "classification"}), "other": "x"})
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    assert onnx_metadata_props(path.read_bytes())["other"] == "x"
    assert read_metadata(path) == {"task": "classification"}


def test_foreign_files_have_no_metadata_and_bad_files_a_clear_error(tmp_path):
    path = tmp_path / "plain.onnx"
    path.write_bytes(_conv_graph().SerializeToString())
    assert read_metadata(path) is None
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(UsageError, match="not a readable tflite"):
        read_metadata(bad)
    with pytest.raises(UsageError, match="not found"):
        read_metadata(tmp_path / "missing.onnx")
    with pytest.raises(ValueError):
        tflite_metadata(b"\x00" * 16)


def test_parity_numbers_and_verdicts():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((20, 10)).astype(np.float32)
    same = compare(ref, ref.copy(), "classification")
    assert same["max_abs_error"] == 0 and same["top1_agreement"] == 100 and same["cosine"] == pytest.approx(1)
    assert judge(same, "fp32", "classification") == []
    flipped = compare(ref, -ref, "classification")
    assert flipped["top1_agreement"] < 50 and flipped["cosine"] == pytest.approx(-1)
    assert len(judge(flipped, "int8", "classification")) == 2


def test_matched_box_iou_is_one_for_identical_detections_and_drops_when_boxes_move():
    boxes = np.array([[[10, 10, 50, 50], [60, 60, 100, 100]]], np.float32)
    scores = np.array([[[0.9, 0.0], [0.0, 0.8]]], np.float32)
    assert matched_box_iou(boxes, scores, boxes, scores) == pytest.approx(1.0)
    moved = boxes + np.array([[[20, 0, 20, 0], [0, 0, 0, 0]]], np.float32)
    assert matched_box_iou(boxes, scores, moved, scores) == pytest.approx((1 / 3 + 1) / 2, abs=1e-3)
    assert matched_box_iou(boxes, scores, boxes, scores * 0) == 0.0  # the artifact finds nothing
