"""Bring your own model: accuracy for files edgecv did not make.

Each file here is written the way its producer writes it -- ``torch.onnx.export`` with external data and no
edgecv metadata; an Ultralytics-layout detector (``[B, 4 + nc, N]`` xywh, or YOLOv5's ``[B, N, 5 + nc]``) carrying
Ultralytics' own ``metadata_props`` -- around networks whose accuracy edgecv knows, so every score has a number it
must equal: the same network scored through edgecv's own path. Real Ultralytics and Keras files, scored against
the producing tool's own numbers, are in ``test_byom_producers.py`` (slow; the scripts in ``scripts/foreign``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import edgecv
from edgecv.interop import Facts, describe, unscorable

EDGECV = str(Path(sys.executable).with_name("edgecv"))
FAST = ["--iters", "3", "--min-time", "0", "--warmup", "1"]
SIZE = 64


def _run(*args, cwd=None):
    return subprocess.run([EDGECV, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["rows"]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """MobileNetV2's default weights through plain ``torch.onnx.export``: dynamic batch, weights in ``.onnx.data``."""
    from edgecv.models.resolve import load_target

    folder = tmp_path_factory.mktemp("torch_export")
    net = load_target("mobilenet_v2", None, require_weights=True).eval()
    path = folder / "mnv2.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, SIZE, SIZE),), str(path), dynamo=True, input_names=["input"],
                      output_names=["logits"], external_data=True,
                      dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},))
    pre = net.card.preprocess.at_size(SIZE).to_dict()
    pre.pop("layout")  # the graph says NCHW
    (folder / "pre.json").write_text(json.dumps(pre))
    from edgecv.evaluate import evaluate_target

    own = evaluate_target("mobilenet_v2", data="shapes", imgsz=SIZE, limit=200)
    return {"path": path, "pre": folder / "pre.json", "top1": own["metrics"]["top1"]}


class _Ultralytics(torch.nn.Module):
    """edgecv's yolo_n with its head laid out as Ultralytics exports it: ``[B, 4 + nc, N]`` (centre x, y, w, h in
    input pixels, then class scores), or YOLOv5's ``[B, N, 5 + nc]`` with an objectness of 1."""

    def __init__(self, net, layout: str) -> None:
        super().__init__()
        self.net, self.layout = net, layout

    def forward(self, x):
        boxes, scores = self.net.decode_head(self.net(x))
        xywh = torch.cat([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]], -1)
        if self.layout == "yolov5":
            return torch.cat([xywh, torch.ones_like(scores[..., :1]), scores], -1)
        return torch.cat([xywh, scores], -1).transpose(1, 2)


def _ultralytics_props(names: list[str], size: int, **args) -> dict[str, str]:
    """``metadata_props`` exactly as Ultralytics' exporter writes them (``str()`` of each value)."""
    meta = {"description": "Ultralytics YOLOv8n model trained on data.yaml", "author": "Ultralytics",
            "date": "2026-12-03T12:00:00+00:00", "version": "8.4.190", "license": "AGPL-3.0 License",
            "docs": "https://docs.ultralytics.com", "stride": 32, "task": "detect", "head": "Detect", "batch": 1,
            "imgsz": [size, size], "names": dict(enumerate(names)),
            "args": {"batch": 1, "half": False, "dynamic": False, "simplify": True, "opset": None, "nms": False,
                     **args}, "channels": 3, "end2end": False}
    return {k: str(v) for k, v in meta.items()}


@pytest.fixture(scope="module")
def detectors(tmp_path_factory):
    """yolo_n (default weights) as an Ultralytics-layout ONNX with Ultralytics' metadata (static and dynamic),
    as a bare YOLOv5-layout file, and edgecv's own export of the same weights: the number all must equal."""
    import onnx

    from edgecv.models.resolve import load_target

    folder = tmp_path_factory.mktemp("ultralytics_layout")
    net = load_target("yolo_n", None, require_weights=True).eval()
    names = net.card.label_names()
    files = {}
    for name, layout, dynamic in (("static", "yolov8", False), ("dynamic", "yolov8", True), ("v5", "yolov5", False)):
        path = folder / f"yolo-{name}.onnx"
        axes = {"images": {0: "batch", 2: "height", 3: "width"}} if dynamic else None
        torch.onnx.export(_Ultralytics(net, layout).eval(), (torch.zeros(1, 3, SIZE, SIZE),), str(path),
                          input_names=["images"], output_names=["output0"], dynamo=False, opset_version=17,
                          dynamic_axes=axes)
        if layout == "yolov8":
            model = onnx.load(str(path))
            onnx.helper.set_model_props(model, _ultralytics_props(names, SIZE, dynamic=dynamic))
            onnx.save(model, str(path))
        files[name] = path
    own = edgecv.export("yolo_n", "onnx", "fp32", data="shapes-det", imgsz=SIZE, out=folder, parity_samples=0)[0]
    files["edgecv"] = own.path
    return files


# --- the metadata from every source ----------------------------------------------------------------------------

def test_a_bare_file_says_what_is_missing_and_a_stated_preprocess_completes_it(classifier):
    from edgecv.runtimes import load

    with load(classifier["path"]) as s:
        assert s.metadata["task"] == "classification" and s.metadata["sources"]["task"] == "file"
        why = unscorable(s.metadata, "mnv2.onnx")
        assert "does not say how images are prepared" in why and "--preprocess" in why
    facts = Facts.from_dict({"preprocess": json.loads(classifier["pre"].read_text())})
    with load(classifier["path"], facts=facts) as s:
        meta = s.metadata
    assert unscorable(meta, "x") is None
    assert meta["preprocess"]["layout"] == "NCHW" and meta["preprocess"]["input_size"] == SIZE  # from the graph
    assert meta["num_classes"] == 12 and meta["sources"]["preprocess"] == "flags"


def test_flags_beat_the_sidecar_which_beats_the_producer(detectors, tmp_path):
    path = tmp_path / "det.onnx"
    path.write_bytes(detectors["static"].read_bytes())
    inputs = outputs = None
    meta = describe(path, None, inputs, outputs)
    assert meta["sources"] == {"task": "ultralytics", "labels": "ultralytics", "head": "ultralytics",
                               "preprocess": "ultralytics"}
    assert meta["preprocess"]["mode"] == "letterbox" and meta["preprocess"]["pad_value"] == 114
    assert meta["preprocess"]["std"] == [1.0, 1.0, 1.0] and meta["head"] == "yolov8"
    (tmp_path / "det.onnx.edgecv.yaml").write_text("preprocess:\n  pad_value: 0\nlabels: [a, b, c, d, e, f, g, h, i, "
                                                   "j, k, l]\n")
    meta = describe(path, Facts(preprocess={"pad_value": 7}), inputs, outputs)
    assert meta["preprocess"]["pad_value"] == 7 and meta["labels"][0] == "a"
    assert meta["sources"]["preprocess"] == "flags+ultralytics" and meta["sources"]["labels"] == "sidecar"


@pytest.mark.parametrize("text, message", [
    ("preprocess: {mean: [0.5, 0.5]}", "preprocess.mean must be 3 finite numbers"),
    ("preprocess: {mode: squash}", "preprocess.mode must be"),
    ("preprocess: {std: [0, 1, 1]}", "preprocess.std must be"),
    ("task: pose", "task must be"),
    ("head: yolox", "head must be one of"),
    ("preprocess: {input_size: 100000}", "input_size"),
    ("colour: RGB\nflavour: sweet", "(unknown: flavour)"),
    ("task: detection\nflavour: sweet", "unknown field 'flavour'"),
    ("[1, 2]", "must be a mapping"),
    ("preprocess: {mean: [.nan, 0, 0]}", "preprocess.mean"),
])
def test_a_wrong_facts_file_is_one_line_naming_the_field(tmp_path, text, message):
    pre = tmp_path / "pre.yaml"
    pre.write_text(text)
    r = _run("predict", "whatever.onnx", "x.png", "--preprocess", pre)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# --- scores equal edgecv's own ---------------------------------------------------------------------------------

def test_a_torch_onnx_export_scores_like_the_zoo_model_with_its_preprocessing(classifier, tmp_path):
    r = _run("eval", classifier["path"], "--data", "shapes", "--limit", 200, "--preprocess", classifier["pre"], "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["metrics"]["top1"] == pytest.approx(classifier["top1"], abs=1e-9)
    assert result["sources"]["preprocess"] == "flags"


def test_profile_with_data_fails_a_row_it_cannot_score_and_scores_it_once_told(classifier, tmp_path):
    out = tmp_path / "p"
    r = _run("profile", classifier["path"], "--data", "shapes", "--limit", 200, "--out", out, *FAST)
    assert r.returncode == 1 and "does not say how images are prepared" in r.stderr, r.stderr
    row = _rows(out)[0]
    assert row["status"] == "failed" and "--preprocess" in row["error"]
    sidecar = classifier["path"].with_name(classifier["path"].name + ".edgecv.json")
    sidecar.write_text(json.dumps({"preprocess": json.loads(classifier["pre"].read_text())}))
    try:
        r = _run("profile", classifier["path"], "--data", "shapes", "--limit", 200, "--out", out, *FAST)
        assert r.returncode == 0, r.stderr
        row = _rows(out)[0]
        assert row["top1"] == pytest.approx(classifier["top1"], abs=1e-9) and row["sources"]["preprocess"] == "sidecar"
        assert row["size_mb"] > 8.0  # the weights live in mnv2.onnx.data: counted
        assert "preprocess from sidecar" in (out / "report.md").read_text()
    finally:
        sidecar.unlink()


def test_a_profile_without_data_times_a_bare_file_and_says_why_accuracy_is_empty(classifier, tmp_path):
    out = tmp_path / "p"
    r = _run("profile", classifier["path"], "--out", out, *FAST)
    assert r.returncode == 0, r.stderr
    row = _rows(out)[0]
    assert row["status"] == "ok" and row["top1"] is None and row["latency_ms"]["p50"] > 0
    assert any("no accuracy" in n and "--preprocess" in n for n in row["notes"])


def test_ultralytics_layout_scores_like_edgecvs_own_export_with_no_flags(detectors, tmp_path):
    from edgecv.evaluate import evaluate_artifact

    own = evaluate_artifact(str(detectors["edgecv"]), data="shapes-det", limit=60)
    want = own["metrics"]["map50_95"]
    assert want > 10  # a real detector, not noise
    for name in ("static", "dynamic"):
        r = _run("eval", detectors[name], "--data", "shapes-det", "--limit", 60, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["metrics"]["map50_95"] == pytest.approx(want, abs=0.05), name
    pre = tmp_path / "pre.yaml"
    pre.write_text(f"input_size: {SIZE}\nmode: letterbox\nmean: 0\nstd: 1\n")
    r = _run("eval", detectors["v5"], "--data", "shapes-det", "--limit", 60, "--preprocess", pre)
    assert r.returncode == 2 and "--task" in r.stderr  # [B, N, 5 + nc] could be several layouts: say which
    r = _run("eval", detectors["v5"], "--data", "shapes-det", "--limit", 60, "--json", "--head", "yolov5",
             "--task", "detection", "--preprocess", pre)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["map50_95"] == pytest.approx(want, abs=0.05)


def test_a_dynamic_file_is_timed_at_the_size_its_metadata_states(detectors, tmp_path):
    out = tmp_path / "p"
    r = _run("profile", detectors["dynamic"], "--out", out, *FAST)
    assert r.returncode == 0, r.stderr
    row = _rows(out)[0]
    assert row["inputs"][0]["shape"] == [1, 3, SIZE, SIZE] and row["imgsz"] == SIZE


def test_predict_and_track_run_a_foreign_detector(detectors, tmp_path):
    from PIL import Image

    from edgecv.data import get_dataset

    image, _, _ = get_dataset("shapes-det", "val", imgsz=SIZE, limit=1)[0]
    Image.fromarray(image).save(tmp_path / "a.png")
    r = _run("predict", detectors["static"], tmp_path / "a.png", "--json")
    assert r.returncode == 0, r.stderr
    preds = json.loads(r.stdout)["results"][0]["predictions"]
    assert preds and preds[0]["label"] in get_dataset("shapes-det", "val", imgsz=SIZE, limit=1).labels
    scores = []
    for name in ("static", "edgecv"):
        r = _run("track", detectors[name], "--data", "shapes-track", "--sequences", 1, "--out", tmp_path / name,
                 "--json")
        assert r.returncode == 0, r.stderr
        scores.append(json.loads(r.stdout)["scores"])
    assert scores[0]["mota"] == pytest.approx(scores[1]["mota"], abs=0.01)  # the same tracks as edgecv's own file
    assert scores[0]["idf1"] == pytest.approx(scores[1]["idf1"], abs=0.01)


def test_annotate_writes_the_facts_in_so_every_command_and_the_device_script_need_no_flags(classifier, tmp_path):
    import shutil

    from edgecv.devices.script import write_device_script

    folder = tmp_path / "m"
    folder.mkdir()
    for p in (classifier["path"], classifier["path"].with_name("mnv2.onnx.data")):
        shutil.copy(p, folder / p.name)
    target = folder / "mnv2.onnx"
    r = _run("annotate", target)
    assert r.returncode == 2 and "nothing written" in r.stderr
    r = _run("annotate", target, "--preprocess", classifier["pre"], "--labels",
             ",".join(f"c{i}" for i in range(12)))
    assert r.returncode == 0, r.stderr
    assert (folder / "mnv2.onnx.data").is_file() and target.stat().st_size < 1_000_000  # weights left outside
    r = _run("eval", target, "--data", "shapes", "--limit", 200, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["top1"] == pytest.approx(classifier["top1"], abs=1e-9)
    from PIL import Image

    from edgecv.data import get_dataset

    image, label = get_dataset("shapes", "val", imgsz=SIZE, limit=1)[0]
    Image.fromarray(image).save(tmp_path / "a.png")
    host = json.loads(_run("predict", target, tmp_path / "a.png", "--json").stdout)["results"][0]["predictions"]
    script = write_device_script(tmp_path / "edgecv_device.pyz")
    device = subprocess.run([sys.executable, str(script), "predict", str(target), str(tmp_path / "a.png"), "--json"],
                            capture_output=True, text=True)
    assert device.returncode == 0, device.stderr
    on_board = json.loads(device.stdout)["results"][0]["predictions"]
    assert [p["label"] for p in on_board] == [p["label"] for p in host] and host[0]["label"].startswith("c")


def test_the_torch_zoo_takes_a_stated_preprocessing(tmp_path):
    from edgecv.evaluate import evaluate_target

    pre = tmp_path / "pre.yaml"
    pre.write_text("mode: center_crop\nresize_size: 80\ninterpolation: bicubic\n")
    r = _run("eval", "mobilenet_v2", "--imgsz", SIZE, "--limit", 100, "--preprocess", pre, "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["preprocess"]["mode"] == "center_crop" and result["preprocess"]["resize_size"] == 80
    plain = evaluate_target("mobilenet_v2", imgsz=SIZE, limit=100)
    assert plain["preprocess"]["mode"] != "center_crop"
    assert result["sources"]["preprocess"] == "flags+card"


# --- heads decoded by the portable core -------------------------------------------------------------------------

def test_already_suppressed_detections_are_scored_without_a_second_nms():
    from edgecv.data import get_dataset
    from edgecv.portable.heads import Detections
    from edgecv.preprocess import Preprocess
    from edgecv.scoring import Evaluator

    ds = get_dataset("shapes-det", "val", imgsz=SIZE, limit=20)
    pre = Preprocess(SIZE, mode="letterbox", mean=(0, 0, 0), std=(1, 1, 1))
    truth = [ds[i] for i in range(len(ds))]
    position = iter(range(len(ds)))

    def perfect(x):  # the ground truth as a [B, 300, 6] end-to-end output, padded with zeros, overlapping boxes kept
        out = np.zeros((len(x), 300, 6), np.float32)
        for b in range(len(x)):
            _, boxes, classes = truth[next(position)]
            out[b, :len(boxes), :4], out[b, :len(boxes), 4], out[b, :len(boxes), 5] = boxes, 0.9, classes
        return Detections(out)

    scores = Evaluator(ds, pre, batch_size=8)(perfect)
    assert scores["map50_95"] == pytest.approx(100.0, abs=0.01)


def test_probabilities_are_detected_not_assumed():
    from edgecv.portable.heads import class_probabilities, looks_like_probabilities

    probs = np.array([0.7, 0.2, 0.1])
    assert looks_like_probabilities(probs, axis=0)
    assert np.allclose(class_probabilities(probs, None), probs)  # not a softmax of a softmax
    logits = np.array([3.0, 1.0, -2.0])
    assert not looks_like_probabilities(logits, axis=0)
    assert class_probabilities(logits, None)[0] == pytest.approx(np.exp(3) / np.exp([3, 1, -2]).sum())


def test_ultralytics_tflite_metadata_is_read_from_its_appended_zip(tmp_path, zoo_artifacts):
    from helpers import strip_tflite_tables

    from edgecv.interop.ultralytics import read

    path = tmp_path / "best_float32.tflite"
    path.write_bytes(strip_tflite_tables(zoo_artifacts[("mobilenet_v2", "tflite", "fp32")].path.read_bytes(),
                                         metadata=True))
    meta = {"author": "Ultralytics", "task": "classify", "names": {0: "a", 1: "b"}, "imgsz": [96, 96], "version": "8"}
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("metadata.json", json.dumps(meta))
    found = read(path, path.read_bytes())
    assert found["task"] == "classification" and found["labels"] == ["a", "b"] and found["head"] == "probs"
    assert found["preprocess"]["input_size"] == 96 and found["preprocess"]["mode"] == "center_crop"


def test_tflite_support_metadata_gives_the_normalisation_and_the_labels(tmp_path):
    """A file whose metadata ``tflite_support.metadata_writers`` wrote (scripts/foreign/tflite_support_file.py)."""
    from PIL import Image

    from edgecv.data import get_dataset
    from edgecv.runtimes import load

    path = Path(__file__).parent / "data" / "foreign" / "support_classifier.tflite"
    with load(path) as session:
        meta = session.metadata
        image = get_dataset("shapes", "val", imgsz=32, limit=1)[0][0]
        by_hand = session.run(((image.astype(np.float32) - 127.5) / 127.5)[None])  # the metadata's mean/std, 0-255
    assert meta["sources"] == {"preprocess": "tflite_support", "labels": "tflite_support", "task": "file"}
    assert meta["preprocess"]["mean"] == [0.5] * 3 and meta["preprocess"]["std"] == [0.5] * 3
    assert meta["preprocess"]["input_size"] == 32 and meta["preprocess"]["layout"] == "NHWC"  # from the graph
    assert meta["labels"][:2] == ["arrow", "circle"] and meta["num_classes"] == 12
    Image.fromarray(image).save(tmp_path / "a.png")
    r = _run("predict", path, tmp_path / "a.png", "--json", "--top", "3")
    assert r.returncode == 0, r.stderr
    preds = json.loads(r.stdout)["results"][0]["predictions"]
    probs = next(iter(by_hand.values()))[0]  # the model ends in a softmax: its scores are shown as they are
    best = np.argsort(-probs)[:3]
    assert [p["label"] for p in preds] == [meta["labels"][k] for k in best]
    assert [p["score"] for p in preds] == pytest.approx([float(probs[k]) for k in best], abs=1e-4)


def test_scoring_counts_every_class_a_box_scores_above_the_threshold():
    """Multi-label NMS candidates (Ultralytics' and YOLOv5's val protocol); a prediction keeps one class."""
    from edgecv.models.yolo_ops import nms

    boxes = torch.tensor([[[0.0, 0.0, 10.0, 10.0], [0.5, 0.5, 10.0, 10.0]]])
    scores = torch.tensor([[[0.6, 0.3], [0.5, 0.01]]])
    single = nms(boxes, scores, 0.001, 0.6)[0]
    multi = nms(boxes, scores, 0.001, 0.6, multi_label=True)[0]
    assert single[:, 5].tolist() == [0.0]  # the second box overlaps the first in its best class
    # every (box, class) above 0.001 is a candidate; NMS within each class keeps the first box for both classes
    assert multi[:, 5].tolist() == [0.0, 1.0] and multi[:, 4].tolist() == pytest.approx([0.6, 0.3])


def test_check_reprofiles_a_foreign_file_with_the_facts_its_baseline_recorded(classifier, tmp_path):
    base = tmp_path / "base.json"
    r = _run("profile", classifier["path"], "--data", "shapes", "--limit", 100, "--preprocess", classifier["pre"],
             "--out", tmp_path / "p", "--json", base, *FAST)
    assert r.returncode == 0, r.stderr
    recorded = json.loads(base.read_text())
    assert recorded["matrix"]["facts"]["preprocess"] == json.loads(classifier["pre"].read_text())
    assert recorded["rows"][0]["top1"] is not None
    r = _run("check", "--baseline", base, "--out", tmp_path / "c")
    assert r.returncode == 0, r.stderr + r.stdout
    assert _rows(tmp_path / "c")[0]["top1"] == recorded["rows"][0]["top1"]


def test_labels_that_do_not_match_the_outputs_are_refused(classifier, tmp_path):
    r = _run("eval", classifier["path"], "--data", "shapes", "--labels", "a,b,c", "--preprocess", classifier["pre"])
    assert r.returncode == 2 and "3 labels (from flags) but the model's output has 12 classes" in r.stderr, r.stderr


def test_a_sidecar_names_labels_only_beside_itself(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not show me\n")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "labels.txt").write_text("\n".join(f"c{i}" for i in range(12)) + "\n")
    for name, ok in (("labels.txt", True), (str(secret), False), ("../secret.txt", False)):
        facts = folder / "m.onnx.edgecv.yaml"
        facts.write_text(f"labels: {name}\n")
        from edgecv.errors import UsageError
        from edgecv.interop.sidecar import read_facts_file

        if ok:
            assert read_facts_file(facts)["labels"][0] == "c0"
        else:
            with pytest.raises(UsageError, match="must be in the facts file's own folder"):
                read_facts_file(facts)


@pytest.mark.parametrize("names", ["__import__('os').system('touch /tmp/edgecv-pwned')", "[" * 5000,
                                   "{0: 'a'" + ", 1: 'b'" * 200_000 + "}"])
def test_hostile_ultralytics_metadata_is_data(tmp_path, names):
    """Ultralytics' values are Python literals: read with literal_eval, bounded; never code, never a crash."""
    import onnx

    from edgecv.interop.ultralytics import read

    path = tmp_path / "m.onnx"
    model = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    onnx.helper.set_model_props(model, {"author": "Ultralytics", "task": "detect", "names": names, "imgsz": "[64, 64]"})
    path.write_bytes(model.SerializeToString())
    found = read(path, path.read_bytes())
    assert "labels" not in found and found["preprocess"]["input_size"] == 64
    assert not Path("/tmp/edgecv-pwned").exists()
