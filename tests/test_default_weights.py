"""The default weights edgecv ships: present, verified by checksum, and as accurate as the manifest says."""

from __future__ import annotations

import hashlib
import shutil

import pytest

import edgecv
from edgecv import weights as default_weights_module
from edgecv.evaluate import evaluate_target
from edgecv.metrics import headline_of
from edgecv.weights import default_weights, manifest

REQUIRED = ["efficientnet_b0", "efficientnet_lite0", "mobilenet_v2", "mobilenet_v3_large", "yolo_n",
            "lraspp_mobilenet_v3_large"]


def test_the_embedded_default_has_weights():
    assert set(REQUIRED) <= set(manifest())
    for name in REQUIRED:
        entry = manifest()[name]
        path = default_weights(name)
        assert path.stat().st_size < 12e6  # fp16: small files
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert entry["command"].startswith(f"edgecv train {name} --data {entry['dataset']}")


@pytest.mark.parametrize("name", REQUIRED)
def test_default_weights_load_with_their_labels_and_preprocessing(name):
    model = edgecv.create_model(name, weights="default")
    entry = manifest()[name]
    assert model.card.preprocess.input_size == entry["imgsz"]
    names = model.card.label_names()
    assert (names[1:3] if model.card.task == "segmentation" else names[:2]) == ["circle", "triangle"]


@pytest.mark.parametrize("name", REQUIRED)
def test_default_weights_are_trained(name):
    """On a slice of the val split the weights score far above chance (1/12 = 8.3%) and near the manifest."""
    result = evaluate_target(name, limit=200 if edgecv.get_card(name).task == "classification" else 100)
    metrics, recorded = result["metrics"], manifest()[name]["val"]
    key, _ = headline_of(metrics)
    assert metrics[key] > {"top1": 25.0, "map50_95": 10.0, "miou": 30.0}[key]
    assert abs(metrics[key] - recorded[key]) < 10  # a slice, so not exactly the full-split number


@pytest.mark.slow
@pytest.mark.parametrize("name", REQUIRED)
def test_manifest_accuracy_is_reproduced_on_the_full_val_split(name):
    metrics = evaluate_target(name)["metrics"]
    for key, value in manifest()[name]["val"].items():
        assert metrics[key] == pytest.approx(value, abs=0.01)


def test_a_tampered_file_is_refused(tmp_path, monkeypatch):
    entry = manifest()["mobilenet_v2"]
    copy = tmp_path / entry["file"]
    shutil.copy(default_weights("mobilenet_v2"), copy)
    copy.write_bytes(copy.read_bytes()[:-1] + b"\x00")
    monkeypatch.setattr(default_weights_module.resources, "files", lambda _: tmp_path)
    with pytest.raises(edgecv.WeightsError, match="does not match its checksum"):
        default_weights("mobilenet_v2")


def test_models_without_defaults_say_so():
    with pytest.raises(edgecv.UsageError, match="yolo_s has no default weights"):
        edgecv.create_model("yolo_s", weights="default")
