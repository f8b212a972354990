"""Every registered model builds, runs at its default and a tiny size, and matches its card."""

from __future__ import annotations

import pytest
import torch

import edgecv
from edgecv.models.complexity import count_macs, count_params, measure

ALL = edgecv.list_models()


def test_zoo_has_what_the_issue_asks_for():
    names = set(ALL)
    assert {"mobilenet_v1", "mobilenet_v1_025", "mobilenet_v2", "mobilenet_v2_035", "mobilenet_v2_140",
            "mobilenet_v3_small", "mobilenet_v3_large", "lenet5", "yolo_n", "yolo_s"} <= names
    assert {f"efficientnet_b{i}" for i in range(8)} <= names
    assert {f"efficientnet_lite{i}" for i in range(5)} <= names
    assert edgecv.list_models("detection") == ["yolo_n", "yolo_s"]
    assert "yolo_n" not in edgecv.list_models("classification")
    assert edgecv.list_models("segmentation") == ["deeplabv3_mobilenet_v3_large", "fcn_mobilenet_v2",
                                                  "lraspp_mobilenet_v3_large"]


def _forward(model: torch.nn.Module, size: int, chans: int) -> object:
    model.eval()
    with torch.inference_mode():
        return model(torch.randn(1, chans, size, size))


@pytest.mark.parametrize("name", ALL)
def test_forward_default_and_tiny(name):
    card = edgecv.get_card(name)
    model = edgecv.create_model(name)
    assert model.card.name == name
    tiny = 32 if card.task == "classification" else 64
    for size in (card.input_size, tiny):
        out = _forward(model, size, card.in_chans)
        if card.task == "classification":
            assert out.shape == (1, card.num_classes)
            assert torch.isfinite(out).all()
        elif card.task == "segmentation":
            assert out["out"].shape == (1, card.num_classes, size, size) and torch.isfinite(out["out"]).all()
        else:
            assert [tuple(o.shape) for o in out] == [
                (1, 4 * model.reg_max + card.num_classes, size // s, size // s) for s in (8, 16, 32)
            ]


@pytest.mark.parametrize("name", ALL)
def test_card_params_and_macs_are_recomputed(name):
    card = edgecv.get_card(name)
    assert card.params is not None and card.macs is not None, "run python -m edgecv.models.complexity --write"
    assert measure(name) == {"params": card.params, "macs": card.macs, "input_size": card.input_size}


def test_counts_on_a_real_model_agree_with_meta_counts():
    model = edgecv.create_model("mobilenet_v2_035")
    card = edgecv.get_card("mobilenet_v2_035")
    assert count_params(model) == card.params
    assert count_macs(model, 224) == card.macs


# Parameter counts at 1000 classes (21 for segmentation) given as facts by the torchvision model docs.
TORCHVISION_PARAMS = {
    "mobilenet_v2": 3_504_872, "mobilenet_v3_large": 5_483_032, "mobilenet_v3_small": 2_542_856,
    "efficientnet_b0": 5_288_548, "efficientnet_b1": 7_794_184, "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232, "efficientnet_b4": 19_341_616, "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704, "efficientnet_b7": 66_347_960, "lraspp_mobilenet_v3_large": 3_221_538,
}
# torchvision's published GFLOPS (really GMACs) for the same models.
TORCHVISION_GMACS = {
    "mobilenet_v2": 0.301, "mobilenet_v3_large": 0.217, "mobilenet_v3_small": 0.057, "efficientnet_b0": 0.386,
    "efficientnet_b1": 0.687, "efficientnet_b2": 1.088, "efficientnet_b3": 1.827, "efficientnet_b4": 4.394,
    "efficientnet_b5": 10.266, "efficientnet_b6": 19.068, "efficientnet_b7": 37.746,
    "lraspp_mobilenet_v3_large": 2.086,  # at 520x520, torchvision's evaluation size
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_published_params_and_macs(name):
    card = edgecv.get_card(name)
    assert card.params == TORCHVISION_PARAMS[name]
    assert round(card.macs / 1e9, 3) == TORCHVISION_GMACS[name]


def test_other_published_sizes():
    # MobileNets paper, Table 6 (million MACs); timm efficientnet_lite0 (4.65M params); yolo_n in 2-3.5M.
    macs = {"mobilenet_v1": 569, "mobilenet_v1_075": 325, "mobilenet_v1_050": 149, "mobilenet_v1_025": 41}
    for name, mmacs in macs.items():
        assert round(edgecv.get_card(name).macs / 1e6) == mmacs
    assert round(edgecv.get_card("efficientnet_lite0").params / 1e6, 2) == 4.65
    assert 2_000_000 <= edgecv.get_card("yolo_n").params <= 3_500_000
    assert edgecv.get_card("yolo_s").params > 2 * edgecv.get_card("yolo_n").params


def test_lite_is_the_edge_variant():
    model = edgecv.create_model("efficientnet_lite4")
    kinds = {type(m).__name__ for m in model.modules()}
    assert "SqueezeExcitation" not in kinds and "SiLU" not in kinds and "ReLU6" in kinds
    assert model.features[0][0].out_channels == 32  # fixed stem
    assert model.classifier[1].in_features == 1280  # fixed head
    assert len(model.features[1]) == 1 and len(model.features[7]) == 1  # first/last stage not deepened


def test_kwargs_change_the_architecture_and_card():
    model = edgecv.create_model("mobilenet_v2", num_classes=7, width_mult=0.5)
    assert model.classifier[1].out_features == 7
    assert model.card.num_classes == 7 and model.card.labels is None and model.card.params is None
    assert model.card.label_names() == [str(i) for i in range(7)]


def test_in_chans_and_dropout_are_accepted():
    model = edgecv.create_model("efficientnet_lite0", in_chans=1, dropout=0.0)
    assert _forward(model, 32, 1).shape == (1, 1000)


def test_unknown_model_and_argument_are_usage_errors():
    with pytest.raises(edgecv.UsageError, match="did you mean mobilenet_v2"):
        edgecv.create_model("mobilenet_v22")
    with pytest.raises(edgecv.UsageError, match="does not take wdth"):
        edgecv.create_model("mobilenet_v2", wdth=2)
    with pytest.raises(edgecv.UsageError, match="num_classes must be at least 1"):
        edgecv.create_model("lenet5", num_classes=0)
    with pytest.raises(edgecv.UsageError, match="unknown task"):
        edgecv.list_models("pose")


def test_labels_ship_with_the_package():
    assert len(edgecv.get_card("mobilenet_v2").label_names()) == 1000
    assert edgecv.get_card("mobilenet_v2").label_names()[0] == "tench"
    assert edgecv.get_card("yolo_n").label_names()[:2] == ["person", "bicycle"]
    assert edgecv.get_card("lenet5").label_names() == [str(i) for i in range(10)]


def test_stochastic_depth_only_while_training():
    model = edgecv.create_model("efficientnet_b0", stochastic_depth_prob=0.9).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
