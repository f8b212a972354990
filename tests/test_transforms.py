"""The preprocessing contract in numpy: Pillow-equal resampling and invertible geometry."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import edgecv
from edgecv.portable.preprocess import preprocess, resize
from edgecv.preprocess import Preprocess

RNG = np.random.default_rng(0)
IMAGE = (RNG.random((97, 131, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize("kind, pil", [("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC),
                                       ("nearest", Image.NEAREST)])
@pytest.mark.parametrize("size", [(32, 40), (200, 150), (97, 64)])
def test_resize_matches_pillow_within_one_level(kind, pil, size):
    h, w = size
    ours = np.round(resize(IMAGE, h, w, kind))
    theirs = np.asarray(Image.fromarray(IMAGE).resize((w, h), pil), np.float32)
    assert np.abs(ours - theirs).max() <= 1.0


def test_center_crop_pipeline_equals_the_torchvision_recipe_by_hand():
    pre = edgecv.get_card("mobilenet_v2").preprocess  # resize 256, crop 224, ImageNet mean/std
    x, geo = preprocess(IMAGE, pre)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    # By hand with Pillow: shorter side 97 -> 256, width 131 -> 346, then centre crop.
    img = np.asarray(Image.fromarray(IMAGE).resize((346, 256), Image.BILINEAR), np.float32)
    top, left = (256 - 224) // 2, (346 - 224) // 2
    ref = (img[top: top + 224, left: left + 224] / 255 - np.array(pre.mean)) / np.array(pre.std)
    assert np.abs(x.transpose(1, 2, 0) - ref).max() < 1.0 / 255 / min(pre.std) + 1e-5
    assert (geo.pad_x, geo.pad_y) == (-61.0, -16.0)


def test_letterbox_geometry_round_trips_boxes():
    pre = Preprocess(input_size=64, mode="letterbox", mean=(0, 0, 0), std=(1, 1, 1))
    x, geo = preprocess(IMAGE, pre)  # 131 wide: scale 64/131, height 97 -> 47, padded top and bottom
    assert x.shape == (3, 64, 64)
    assert np.allclose(x[:, 0, 0], 114 / 255) and geo.pad_x == 0 and geo.pad_y == (64 - 47) // 2
    boxes = np.array([[10.0, 20.0, 100.0, 90.0]])
    assert np.allclose(geo.to_image(geo.to_input(boxes)), boxes, atol=1e-4)


def test_gray_and_bgr_and_nhwc():
    gray = Preprocess(input_size=16, mode="resize", colour="GRAY", mean=(0.5,), std=(0.5,))
    x, _ = preprocess(IMAGE, gray)
    assert x.shape == (1, 16, 16) and -1.0 <= x.min() and x.max() <= 1.0
    rgb = Preprocess(input_size=16, mode="resize", mean=(0, 0, 0), std=(1, 1, 1))
    bgr = Preprocess(input_size=16, mode="resize", mean=(0, 0, 0), std=(1, 1, 1), colour="BGR", layout="NHWC")
    a, _ = preprocess(IMAGE, rgb)
    b, _ = preprocess(IMAGE, bgr)
    assert b.shape == (16, 16, 3) and np.allclose(a.transpose(1, 2, 0)[..., ::-1], b)
    assert preprocess(IMAGE[:, :, :1], rgb)[0].shape == (3, 16, 16)  # grey input, colour model
