from __future__ import annotations

import pytest

import edgecv
from edgecv._optional import import_optional
from edgecv.preprocess import Preprocess


def test_preprocess_round_trips_through_json_types():
    pre = edgecv.get_card("efficientnet_lite0").preprocess
    assert Preprocess.from_dict(pre.to_dict()) == pre
    assert pre.mean == pytest.approx((127 / 255,) * 3)


def test_preprocess_at_another_size_keeps_the_crop_ratio():
    pre = edgecv.get_card("mobilenet_v2").preprocess
    assert (pre.input_size, pre.resize_size) == (224, 256)
    small = pre.at_size(56)
    assert (small.input_size, small.resize_size) == (56, 64)
    assert edgecv.get_card("yolo_n").preprocess.at_size(64).resize_size is None


def test_preprocess_rejects_nonsense():
    with pytest.raises(ValueError, match="mean/std need 1 values for GRAY"):
        Preprocess(input_size=32, colour="GRAY")
    with pytest.raises(ValueError, match="std values must be positive"):
        Preprocess(input_size=32, std=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="unknown preprocessing fields"):
        Preprocess.from_dict({"input_size": 32, "gamma": 2})
    assert Preprocess(input_size=32).resize_size == 32
    assert Preprocess(input_size=32, mode="resize", resize_size=40).resize_size is None


def test_missing_optional_package_names_the_extra():
    with pytest.raises(edgecv.MissingDependencyError, match=r"pip install 'edgecv\[onnx\]'"):
        import_optional("edgecv_no_such_module_xyz", extra="onnx")
    with pytest.raises(edgecv.MissingDependencyError, match=r"install it with: pip install scikit-learn$"):
        import_optional("edgecv_no_such_module_xyz", extra=None, package="scikit-learn")
    assert import_optional("json", extra="dev").dumps([]) == "[]"
