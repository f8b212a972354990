"""Weights load from safetensors or plain PyTorch files; bad files give one clear error."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

import edgecv
from edgecv.models.state_dict import read_state_dict


def _trained_lenet(num_classes: int = 10) -> torch.nn.Module:
    model = edgecv.create_model("lenet5", num_classes=num_classes)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    return model.eval()


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


def test_safetensors_round_trip(tmp_path):
    model = _trained_lenet()
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    assert _same_outputs(model, edgecv.create_model("lenet5", weights=tmp_path / "w.safetensors"))


@pytest.mark.parametrize("wrap", [lambda s: s, lambda s: {"state_dict": s}, lambda s: {"model": {"state_dict": s}},
                                  lambda s: {f"module.{k}": v for k, v in s.items()}])
def test_pytorch_files_and_common_wrappers(tmp_path, wrap):
    model = _trained_lenet()
    torch.save(wrap(model.state_dict()), tmp_path / "w.pth")
    assert _same_outputs(model, edgecv.create_model("lenet5", weights=str(tmp_path / "w.pth")))


def test_class_count_is_read_from_the_checkpoint(tmp_path):
    torch.save(_trained_lenet(num_classes=4).state_dict(), tmp_path / "w.pt")
    model = edgecv.create_model("lenet5", weights=tmp_path / "w.pt")
    assert model.classifier[-1].out_features == 4 and model.card.num_classes == 4
    with pytest.raises(edgecv.UsageError, match="trained for 4 classes but num_classes=10"):
        edgecv.create_model("lenet5", num_classes=10, weights=tmp_path / "w.pt")


def test_missing_file(tmp_path):
    with pytest.raises(edgecv.WeightsError, match="weights file not found"):
        edgecv.create_model("lenet5", weights=tmp_path / "nope.pth")


class _Payload:
    """Unpickling this would run code; weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_malicious_pickle_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"weight": _Payload()}, f)
    torch.save({"state_dict": _trained_lenet().state_dict(), "hook": _Payload()}, tmp_path / "evil2.pth")
    with pytest.raises(edgecv.WeightsError, match="cannot read evil.pth .* safe loading refuses"):
        read_state_dict(path)
    with pytest.raises(edgecv.WeightsError, match="refusing to load evil2.pth: it holds Python objects.*GLOBAL print"):
        read_state_dict(tmp_path / "evil2.pth")
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_corrupt_file(tmp_path, suffix):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x00\x01 this is not a checkpoint")
    with pytest.raises(edgecv.WeightsError, match="cannot read broken"):
        edgecv.create_model("lenet5", weights=path)


def test_weights_of_another_model(tmp_path):
    torch.save(edgecv.create_model("mobilenet_v3_small", num_classes=10).state_dict(), tmp_path / "v3.pth")
    expected = r"v3.pth does not fit LeNet5: missing: features.2.0.weight.*unexpected: .*shape mismatch: "
    with pytest.raises(edgecv.WeightsError, match=expected):
        edgecv.create_model("lenet5", weights=tmp_path / "v3.pth")


def test_shape_mismatch_is_named(tmp_path):
    state = _trained_lenet().state_dict()
    state["features.0.0.weight"] = torch.zeros(6, 3, 5, 5)
    torch.save(state, tmp_path / "rgb.pth")
    with pytest.raises(edgecv.WeightsError, match=r"shape mismatch: features.0.0.weight \(6, 3, 5, 5\) vs \(6, 1, 5, 5\)"):
        edgecv.create_model("lenet5", weights=tmp_path / "rgb.pth")


def test_not_a_state_dict(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(edgecv.WeightsError, match="does not hold a state dict"):
        edgecv.create_model("lenet5", weights=tmp_path / "list.pth")
