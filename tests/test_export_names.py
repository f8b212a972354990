"""One name for each tensor and layer in both formats (issue 27): the ONNX and TFLite files of an export have the
same input and output names, and `edgecv layers` names their layers by the same PyTorch module paths."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("model", ["mobilenet_v2", "yolo_n"])
def test_onnx_and_tflite_files_name_their_inputs_and_outputs_alike(zoo_artifacts, model):
    import edgecv

    names = {}
    for fmt in ("onnx", "tflite"):
        for precision in ("fp32", "int8"):
            with edgecv.load(zoo_artifacts[(model, fmt, precision)].path) as session:
                names[fmt, precision] = ([i.name for i in session.inputs], sorted(o.name for o in session.outputs))
    assert len(set(map(str, names.values()))) == 1, names
    inputs, outputs = names["onnx", "fp32"]
    assert inputs == ["input"] and outputs == (["logits"] if model == "mobilenet_v2" else ["boxes", "scores"])


def test_onnx_layers_are_named_by_the_module_paths_tflite_layers_have(zoo_artifacts):
    """The exporter names each ONNX node after the module it came from (the dynamo exporter's name scopes), so
    the layer report, --keep-float and the TFLite file all say ``features.6.conv.2``, never ``node_Conv_825``."""
    import onnx

    from edgecv.exporters.tflite import _ops, module_path

    fp32 = onnx.load(str(zoo_artifacts[("mobilenet_v2", "onnx", "fp32")].path))
    convs = [n.name for n in fp32.graph.node if n.op_type == "Conv"]  # (the last Gemm's tensor is the output's)
    assert not [n for n in convs if n.startswith("node_")], convs
    tflite = {module_path(outs[0]) for op, _, outs in _ops(zoo_artifacts[("mobilenet_v2", "tflite", "fp32")].path)
              if op in ("CONV_2D", "DEPTHWISE_CONV_2D") and outs}
    assert set(convs) == tflite, sorted(set(convs) ^ tflite)[:10]
    int8 = onnx.load(str(zoo_artifacts[("mobilenet_v2", "onnx", "int8")].path))
    assert {n.name for n in int8.graph.node if n.op_type == "Conv"} <= set(convs)  # the quantizer keeps them
