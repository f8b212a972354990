"""``edgecv layers``: an int8 ONNX file against its float model, layer by layer, on real images."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

EDGECV = str(Path(sys.executable).with_name("edgecv"))

pytest.importorskip("onnxruntime")


def _edgecv(args):
    """The CLI in a process of its own: the converters and quantizers these tests drive leave threads, worker
    processes and environment variables behind, which must not reach later tests."""
    ran = subprocess.run([EDGECV, *map(str, args)], capture_output=True, text=True)
    return SimpleNamespace(exit_code=ran.returncode, stdout=ran.stdout, output=ran.stdout + ran.stderr)


@pytest.fixture(scope="module")
def lenet_exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    ran = _edgecv(["train", "lenet5", "--data", "digits", "--epochs", "2", "--out", str(out / "run")])
    assert ran.exit_code == 0, ran.output
    ran = _edgecv(["export", str(out / "run" / "best.safetensors"), "--format", "onnx", "--precision",
                                   "fp32,int8", "--calib-samples", "64", "--parity-samples", "8", "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    return out


def test_every_quantized_layer_gets_its_error_and_its_share_of_the_time(lenet_exports):
    (int8,) = lenet_exports.glob("*-int8.onnx")
    ran = _edgecv(["layers", str(int8), "--limit", "16", "--json"])
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    assert report["reference"].endswith("-fp32.onnx") and report["images"] == 16 and report["data"] == "digits"
    layers = report["layers"]
    assert [layer["op"] for layer in layers].count("Conv") == 2 and len(layers) >= 4  # LeNet-5: 2 convs, 2-3 fc
    assert all(math.isfinite(layer["sqnr_db"]) and layer["sqnr_db"] > 10 for layer in layers)  # int8 is ~4-7 bits
    assert all(0.9 < layer["cosine"] <= 1.0 for layer in layers)
    timed = [layer for layer in layers if layer["ms"] is not None]
    assert len(timed) >= len(layers) - 1 and 0 < sum(layer["share"] for layer in timed) <= 1.0
    table = _edgecv(["layers", str(int8), "--limit", "8", "--top", "2"])
    assert table.exit_code == 0 and "the 2 worst" in table.output and "SQNR dB" in table.output


def test_what_it_cannot_analyse_is_said_in_one_line(lenet_exports, tmp_path):
    (int8,) = lenet_exports.glob("*-int8.onnx")
    lonely = tmp_path / int8.name
    lonely.write_bytes(int8.read_bytes())
    ran = _edgecv(["layers", str(lonely)])
    assert ran.exit_code == 2 and "no fp32 file of the same export beside" in ran.output
    (fp32,) = lenet_exports.glob("*-fp32.onnx")
    ran = _edgecv(["layers", str(int8), str(fp32), "--limit", "4", "--json"])
    assert ran.exit_code == 0  # the reference named explicitly
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"")
    ran = _edgecv(["layers", str(tflite)])
    assert ran.exit_code == 2 and ran.output.count("\n") == 1


def test_keeping_the_worst_layers_in_float_is_measured_and_can_be_exported(lenet_exports, tmp_path):
    (int8,) = lenet_exports.glob("*-int8.onnx")
    ran = _edgecv(["layers", str(int8), "--limit", "8", "--float-accuracy", "2", "--eval-limit", "64",
                                   "--json"])
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    acc = report["accuracy"]
    assert acc["metric"] == "top1" and acc["eval_images"] == 64 and 0 <= acc["int8"] <= 100
    measured = [layer for layer in report["layers"] if layer["float_gain"] is not None]
    worst = sorted(report["layers"], key=lambda layer: layer["sqnr_db"])[:2]
    assert [m["name"] for m in sorted(measured, key=lambda m: m["sqnr_db"])] == [w["name"] for w in worst]

    import onnx

    from edgecv.artifact import read_metadata

    keep = worst[0]["name"]
    out = tmp_path / "kept"
    ran = _edgecv(["export", str(lenet_exports / "run" / "best.safetensors"), "--format", "onnx",
                                   "--precision", "int8", "--keep-float", keep, "--parity-samples", "8",
                                   "--calib-samples", "64", "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    (kept,) = out.glob("*-int8.onnx")
    assert read_metadata(kept)["calibration"]["keep_float"] == [keep]
    graph = onnx.load(str(kept)).graph
    node = next(n for n in graph.node if n.name == keep)
    producers = {o: n.op_type for n in graph.node for o in n.output}
    assert producers.get(node.input[1]) != "DequantizeLinear"  # its weights stay float
    assert {i.name for i in graph.initializer} >= {node.input[1]}

    from edgecv.quant.cost import float_layer_ms, model_ms

    x = np.random.default_rng(0).random((4, 1, 32, 32), np.float32)
    cost = float_layer_ms(kept, int8, [keep], x)
    assert list(cost) == [keep] and math.isfinite(cost[keep])  # its float kernel and Q/DQ, less its int8 kernel
    ms = model_ms({"int8": int8, "kept": kept}, x[0])
    assert set(ms) == {"int8", "kept"} and all(v > 0 for v in ms.values())
    bad = _edgecv(["export", str(lenet_exports / "run" / "best.safetensors"), "--format", "onnx",
                                   "--precision", "int8", "--keep-float", "nope", "--parity-samples", "0",
                                   "--calib-samples", "8", "--out", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "names no node" in bad.output


def test_max_drop_searches_calibrations_then_float_layers_and_records_what_it_chose(lenet_exports, tmp_path):
    from edgecv.artifact import read_metadata

    ckpt = str(lenet_exports / "run" / "best.safetensors")
    out = tmp_path / "budget"
    ran = _edgecv(["export", ckpt, "--format", "onnx", "--precision", "int8", "--max-drop", "0.5",
                                   "--calib-samples", "64", "--parity-samples", "8", "--eval-limit", "64",
                                   "--evaluate", "--out", str(out), "--json"])
    assert ran.exit_code == 0, ran.output
    reported = next(a for a in json.loads(ran.output)["artifacts"] if a["precision"] == "int8")
    # --evaluate's figure is the file that stays (the search's choice), not the plain int8 file it replaced
    assert reported["accuracy"]["top1"] == pytest.approx(reported["search"]["val"]["int8"], abs=0.01)
    # the kept file's parity is measured (the export checked the plain file the search replaced), and recorded
    assert reported["parity"] is not None and "cosine" in reported["parity"]
    summary = json.loads(next(out.glob("*-export.json")).read_text())
    assert next(a for a in summary["artifacts"] if a["precision"] == "int8")["parity"] == reported["parity"]
    (_fp32,), (int8,) = out.glob("*-fp32.onnx"), out.glob("*-int8.onnx")  # the fp32 reference is exported too
    record = read_metadata(int8)["calibration"]["search"]
    assert record["fits"] and record["max_drop"] == 0.5 and record["metric"] == "top1"
    assert [t["method"] for t in record["tried"]][:3] == ["minmax", "percentile", "entropy"]
    assert all(t["images"] in (64, 256) for t in record["tried"])  # the export's 64, or 4x that
    assert all(t["bound"] == pytest.approx(t["drop"] + t["se"], abs=2e-3) and t["se"] >= 0 for t in record["tried"])
    assert record["chosen"]["bound"] <= 50 and "standard error" in record["rule"]
    assert "held-out" in record["decided_on"] and record["val"]["images"] == 64
    assert record["chosen"]["drop"] <= 50 and set(record["val"]) >= {"fp32", "int8", "drop"}
    latency = record["latency"]
    assert set(latency["ms"]) == {"fp32", "int8", "chosen"} and all(v > 0 for v in latency["ms"].values())
    assert latency["ratio_to_fp32"] == pytest.approx(latency["ms"]["chosen"] / latency["ms"]["fp32"], abs=1e-3)
    for args, message in ((["--format", "pytorch"], "searches ONNX and TFLite int8"),
                          (["--precision", "fp32"], "applies to --precision int8")):
        bad = _edgecv(["export", ckpt, "--precision", "int8", "--max-drop", "0.01", *args,
                                       "--out", str(tmp_path / "x")])
        assert bad.exit_code == 2 and message in bad.output


def test_a_tflite_file_is_compared_layer_by_layer_by_its_pytorch_module_names(lenet_exports, tmp_path):
    pytest.importorskip("litert_torch")
    ckpt = str(lenet_exports / "run" / "best.safetensors")
    ran = _edgecv(["export", ckpt, "--format", "tflite", "--precision", "fp32,int8",
                                   "--calib-samples", "64", "--parity-samples", "0", "--out", str(tmp_path)])
    assert ran.exit_code == 0, ran.output
    (int8,) = tmp_path.glob("*-int8.tflite")
    ran = _edgecv(["layers", str(int8), "--limit", "8", "--json"])
    assert ran.exit_code == 0, ran.output
    layers = json.loads(ran.stdout)["layers"]
    assert {layer["op"] for layer in layers} >= {"CONV_2D", "FULLY_CONNECTED"} and len(layers) >= 4
    assert all(layer["ms"] is None and not math.isnan(layer["sqnr_db"]) for layer in layers)
    assert all(math.isfinite(la["sqnr_db"]) for la in layers if la["op"] in ("CONV_2D", "FULLY_CONNECTED"))
    assert {"ADD", "MUL"} & {la["op"] for la in layers}  # the ops between the heavy ones requantize too
    assert any(layer["name"].startswith(("features", "classifier")) for layer in layers)  # LeNet5's own modules
    table = _edgecv(["layers", str(int8), "--limit", "2", "--top", "3"])
    assert table.exit_code == 0 and "ms, share: not measured for .tflite files" in table.output  # says why
    ran = _edgecv(["layers", str(int8), "--limit", "4", "--float-accuracy", "1", "--eval-limit", "32",
                                   "--json"])
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    assert sum(layer["float_gain"] is not None for layer in report["layers"]) == 1 and report["accuracy"]["int8"] >= 0
    budget = _edgecv(["export", ckpt, "--format", "tflite", "--precision", "int8", "--max-drop", "0.5",
                                      "--calib-samples", "64", "--parity-samples", "0", "--eval-limit", "32",
                                      "--out", str(tmp_path / "budget")])
    assert budget.exit_code == 0, budget.output
    (searched,) = (tmp_path / "budget").glob("*-int8.tflite")
    from edgecv.artifact import read_metadata as _meta

    record = _meta(searched)["calibration"]["search"]
    assert [t["method"] for t in record["tried"]][:1] == ["minmax"] and record["fits"]

    from ai_edge_litert.interpreter import Interpreter

    from edgecv.artifact import read_metadata
    from edgecv.exporters.tflite import module_path

    heavy = [la for la in layers if la["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    keep, wide = (la["name"] for la in sorted(heavy, key=lambda layer: layer["sqnr_db"])[:2])
    ran = _edgecv(["export", ckpt, "--format", "tflite", "--precision", "int8", "--keep-float", keep, "--int16", wide,
                                   "--calib-samples", "64", "--parity-samples", "0", "--out", str(tmp_path / "kept")])
    assert ran.exit_code == 0, ran.output
    (kept,) = (tmp_path / "kept").glob("*-int8.tflite")
    assert read_metadata(kept)["calibration"]["keep_float"] == [keep]
    assert read_metadata(kept)["calibration"]["int16"] == [wide]
    it = Interpreter(model_path=str(kept))
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    outputs = [tensors[op["outputs"][0]] for op in it._get_ops_details() if op["op_name"] in ("CONV_2D",
               "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    dtypes = {module_path(t["name"]): t["dtype"] for t in outputs}
    assert dtypes[keep] == np.float32 and np.int8 in dtypes.values()  # that layer float, the others int8
    assert dtypes[wide] == np.int16  # int16 activations
    for args, message in ((["--format", "onnx", "--int16", "x"], "cannot give layers int16"),
                          (["--format", "tflite", "--int16", keep, "--keep-float", keep], "either in float or int16")):
        bad = _edgecv(["export", ckpt, "--precision", "int8", *args, "--out", str(tmp_path / "bad")])
        assert bad.exit_code == 2 and message in bad.output
    bad = _edgecv(["export", ckpt, "--format", "tflite", "--precision", "int8", "--keep-float", "nope",
                                   "--calib-samples", "8", "--parity-samples", "0", "--out", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "names no layer" in bad.output


def test_profile_links_each_int8_row_to_its_layer_report(lenet_exports, tmp_path):
    out = tmp_path / "prof"
    args = ["profile", str(lenet_exports), "--layers", "--iters", "3", "--min-time", "0", "--warmup", "1",
            "--out", str(out)]
    ran = _edgecv(args)
    assert ran.exit_code == 0, ran.output
    rows = json.loads((out / "results.json").read_text())["rows"]
    linked = {r["precision"]: r.get("layers_report") for r in rows}
    assert linked["fp32"] is None and linked["int8"].startswith("layers/")
    page, saved = out / linked["int8"], (out / linked["int8"]).with_suffix(".json")
    assert f'href="{linked["int8"]}"' in (out / "report.html").read_text()
    assert "SQNR dB" in page.read_text() and json.loads(saved.read_text())["reference"].endswith("-fp32.onnx")
    again = _edgecv(args)  # resumed: the file is unchanged, so it is not analysed again
    assert again.exit_code == 0 and "analysing" not in again.output
    assert json.loads((out / "results.json").read_text())["rows"] == rows


def test_the_larger_calibration_candidate_is_what_calib_samples_would_draw(lenet_exports, tmp_path):
    """A searched file records ``calibration.images``; re-quantizing from the record (``edgecv layers
    --float-accuracy``) draws that many images with the exporter's own draw, so the search must calibrate on
    exactly those, and decide on images neither calibration used."""
    from edgecv.artifact import read_metadata
    from edgecv.exporters.calibration import load_images
    from edgecv.preprocess import Preprocess
    from edgecv.quant.budget import _Search

    (fp32,), (int8,) = lenet_exports.glob("*-fp32.onnx"), lenet_exports.glob("*-int8.onnx")
    search = _Search(int8, fp32, 100, None, lambda m: None, tmp_path)
    assert search.counts == (64, 256)
    pre = Preprocess.from_dict(read_metadata(int8)["preprocess"])
    for count in search.counts:
        want, _ = load_images("digits", pre, count, "train")
        np.testing.assert_array_equal(search.calibs[count], want)
    assert len(search.decide) == 100 and not set(search.decide.indices) & set(
        int(i) for i in np.random.default_rng(0).permutation(len(search.decide.base))[:256])


def test_a_tflite_module_path_keeps_every_op_converted_from_that_module():
    from edgecv.errors import UsageError
    from edgecv.exporters.tflite import kept_outputs

    se = "NHWC/MobileNetV3_module/Sequential_features/InvertedResidual_4/Sequential_block/SqueezeExcitation_2"
    ops = [("MEAN", ["a"], [f"{se}/AdaptiveAvgPool2d_avgpool;"]),
           ("CONV_2D", ["b"], [f"{se}/Conv2d_fc1;"]),
           ("CONV_2D", ["c"], [f"{se}/Conv2d_fc2;"]),
           ("MUL", ["d"], [f"{se}/Hardsigmoid_scale_activation;"]),
           ("CONV_2D", ["e"], ["NHWC/MobileNetV3_module/Sequential_features/InvertedResidual_40/Conv2d_0;"])]
    assert kept_outputs(ops, ("features.4.block.2.fc2",), "m") == [ops[2][2][0]]
    whole = kept_outputs(ops, ("features.4.block.2",), "m")  # the whole squeeze-excite, not features.40
    assert whole == [o[2][0] for o in ops[:4]]
    with pytest.raises(UsageError, match="names no layer of m: features.4.block.9"):
        kept_outputs(ops, ("features.4.block.9",), "m")


def test_the_search_widens_a_drop_by_the_uncertainty_of_the_paired_difference():
    from edgecv.quant.budget import _Search

    search = _Search.__new__(_Search)
    search.reference_hits = [True] * 90 + [False] * 10
    assert search.margin(list(search.reference_hits)) == 0.0  # the same answers: no doubt about the drop
    swapped = [False] * 5 + [True] * 85 + [True] * 5 + [False] * 5  # 5 lost, 5 won: drop 0, yet uncertain
    assert search.margin(swapped) == pytest.approx(100 * (0.1 / 100) ** 0.5)  # 3.2 points on 100 images
    assert search.margin([]) == 0.0  # a detector: no per-image answers


def test_a_kernel_is_matched_to_its_own_node_only():
    from edgecv.quant.layers import Layer, attach_times, runs_node

    assert runs_node("node_Conv_12_token_3", "node_Conv_12") and runs_node("node_select_5/Fusion", "node_select_5")
    assert not runs_node("node_linear_1", "node_linear") and not runs_node("node_Conv_120", "node_Conv_12")
    layers = [Layer("node_linear", "Gemm", "a", 30.0, 1.0), Layer("node_linear_1", "Gemm", "b", 30.0, 1.0)]
    attach_times(layers, {"node_linear": 1.0, "node_linear_1": 3.0})
    assert [la.ms for la in layers] == [1.0, 3.0] and [la.share for la in layers] == [0.25, 0.75]


def test_a_tflite_layer_in_float_hands_its_readers_a_float_tensor():
    from edgecv.exporters.tflite import with_readers

    ops = [("CONV_2D", ["x"], ["a"]), ("HARD_SWISH", ["a"], ["b"]), ("ADD", ["b", "x"], ["c"]), ("MUL", ["c"], ["d"])]
    assert with_readers(ops, ["a"]) == ["a", "b"]  # the conv and the op reading its output
    assert with_readers(ops, ["b", "x"]) == ["b", "x", "a", "c"]


def test_a_histogram_calibration_the_machine_cannot_hold_is_refused_in_one_line(lenet_exports, tmp_path, monkeypatch):
    import edgecv.resources
    from edgecv.errors import UsageError
    from edgecv.exporters.onnx import quantize_onnx

    (fp32,) = lenet_exports.glob("*-fp32.onnx")
    batches = [np.zeros((1, 1, 32, 32), np.float32)] * 8
    monkeypatch.setattr(edgecv.resources, "available_bytes", lambda: 1024)  # percentile keeps every activation
    with pytest.raises(UsageError, match="percentile calibration of lenet5 keeps every activation of its 8"):
        quantize_onnx(fp32, tmp_path / "p.onnx", batches, "percentile", name="lenet5")
    assert quantize_onnx(fp32, tmp_path / "m.onnx", batches, "minmax", name="lenet5").is_file()  # min/max streams


def test_float_ops_run_every_op_of_a_type_in_float_with_int8_around_it(lenet_exports, tmp_path):
    pytest.importorskip("litert_torch")
    import onnx
    from ai_edge_litert.interpreter import Interpreter

    from edgecv.artifact import read_metadata

    ckpt = str(lenet_exports / "run" / "best.safetensors")
    (fp32,) = lenet_exports.glob("*-fp32.onnx")
    onnx_type = next(n.op_type for n in onnx.load(str(fp32)).graph.node if n.op_type in ("Relu", "MaxPool", "Add"))
    ran = _edgecv(["export", ckpt, "--format", "onnx,tflite", "--precision", "int8", "--float-ops", onnx_type,
                   "--calib-samples", "16", "--parity-samples", "0", "--out", str(tmp_path / "onnx")])
    assert ran.exit_code != 0 and f"has no {onnx_type} op (its ops:" in ran.output  # an ONNX type is not TFLite's
    ran = _edgecv(["export", ckpt, "--format", "onnx", "--precision", "int8", "--float-ops", onnx_type,
                   "--calib-samples", "16", "--parity-samples", "0", "--out", str(tmp_path / "onnx")])
    assert ran.exit_code == 0, ran.output
    (int8,) = (tmp_path / "onnx").glob("*-int8.onnx")
    graph = onnx.load(str(int8)).graph
    producer = {o: n for n in graph.node for o in n.output}
    chosen = [n for n in graph.node if n.op_type == onnx_type]
    assert chosen and all(producer[n.input[0]].op_type == "DequantizeLinear" for n in chosen)  # float, int8 around
    assert read_metadata(int8)["calibration"]["float_ops"] == [onnx_type]

    ran = _edgecv(["export", ckpt, "--format", "tflite", "--precision", "int8", "--float-ops", "MAX_POOL_2D",
                   "--calib-samples", "16", "--parity-samples", "0", "--out", str(tmp_path / "tflite")])
    assert ran.exit_code == 0, ran.output
    (int8,) = (tmp_path / "tflite").glob("*-int8.tflite")
    it = Interpreter(model_path=str(int8))
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    kinds = {(op["op_name"], tensors[op["outputs"][0]]["dtype"]) for op in it._get_ops_details()}
    assert ("MAX_POOL_2D", np.float32) in kinds and ("MAX_POOL_2D", np.int8) not in kinds
    assert ("CONV_2D", np.int8) in kinds and ("QUANTIZE", np.int8) in kinds  # its readers stay int8


def test_int8_that_does_not_pay_tries_op_types_in_float_and_keeps_only_a_faster_fitting_one(monkeypatch, tmp_path):
    from edgecv.quant import budget, cost

    search = budget._Search.__new__(budget._Search)
    search.log, search.threads, search.layout = (lambda m: None), None, "NCHW"
    search.calib, search.fp32 = np.zeros((1, 1, 8, 8), np.float32), tmp_path / "fp32"
    made = {}

    def variant(method, keep, images, float_ops=()):  # HARD_SWISH in float: faster and fits; MUL: faster, misses
        made[float_ops[-1]] = {"method": method, "images": images, "keep_float": list(keep), "float_ops": list(float_ops),
                               "bound": 0.9 if float_ops[-1] == "MUL" else 0.1, "path": tmp_path / "+".join(float_ops)}
        return made[float_ops[-1]]

    speed = {"fp32": 1.0, "int8": 1.05, "HARD_SWISH": 0.45, "HARD_SWISH+MUL": 0.3, "HARD_SWISH+ADD": 0.44}
    monkeypatch.setattr(search, "variant", variant)
    monkeypatch.setattr(budget, "light_op_types", lambda path: ["HARD_SWISH", "MUL", "ADD"])
    monkeypatch.setattr(cost, "model_ms", lambda paths, x, threads: {k: speed[Path(p).name] for k, p in paths.items()})
    plain = {"method": "minmax", "images": 64, "keep_float": [], "float_ops": [], "bound": 0.2,
             "path": tmp_path / "int8"}
    chosen = search.faster(plain, budget=0.5)
    assert chosen["float_ops"] == ["HARD_SWISH"]  # MUL was faster but out of budget; ADD was not 10% faster
    assert set(made) == {"HARD_SWISH", "MUL", "ADD"}
    speed["int8"] = 0.5  # int8 that pays: nothing is tried
    made.clear()
    assert search.faster(dict(plain), budget=0.5)["float_ops"] == [] and not made

