"""Every built-in model, registered with its card. Reference accuracies are the published ImageNet /
paper numbers for the architecture (with their source), not numbers edgecv measured."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from ..preprocess import Preprocess
from .card import Reference
from .efficientnet import VARIANTS, EfficientNet
from .lenet import LeNet5
from .mobilenet_v1 import MobileNetV1
from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3
from .registry import register_model
from .segmentation import LRASPP, DeepLabV3, FCNMobileNetV2
from .yolo import YOLO

IMAGENET = "ImageNet-1k val"
TV = "torchvision IMAGENET1K_V1 weights (docs.pytorch.org/vision/stable/models)"
V1_PAPER = "Howard et al. 2017, MobileNets, Table 6"
V2_SLIM = "tensorflow/models research/slim/nets/mobilenet (MobileNetV2 checkpoints table)"
LITE_TF = "tensorflow/tpu models/official/efficientnet/lite README (fp32)"


def _builder(name: str, cls: type[nn.Module], **fixed: Any) -> Callable[..., nn.Module]:
    """A builder named ``name`` that calls ``cls`` with ``fixed`` defaults. Its signature is the class's, so
    the registry can reject unknown arguments and a caller can still override e.g. ``width_mult``."""

    def build(**kwargs: Any) -> nn.Module:
        return cls(**{**fixed, **kwargs})

    sig = inspect.signature(cls)
    params = [p.replace(default=fixed[p.name]) if p.name in fixed else p for p in sig.parameters.values()]
    build.__signature__ = sig.replace(parameters=params, return_annotation=nn.Module)  # type: ignore[attr-defined]
    build.__name__ = build.__qualname__ = name
    return build


def _imagenet(size: int, resize: int, interpolation: str = "bilinear") -> Preprocess:
    return Preprocess(input_size=size, mode="center_crop", resize_size=resize, interpolation=interpolation)  # type: ignore[arg-type]


def _classifier(family: str, description: str, pre: Preprocess, ref: Reference | None = None):
    return register_model(family=family, task="classification", preprocess=pre, num_classes=1000,
                          labels="imagenet-1k", num_classes_key="classifier.1.weight" if family != "mobilenet_v3"
                          else "classifier.3.weight", description=description, reference=ref)


def _top1(value: float, source: str, top5: float | None = None) -> Reference:
    return Reference(metric="top1", value=value, dataset=IMAGENET, source=source, top5=top5)


# --- MobileNetV1 -------------------------------------------------------------------------------------------
_V1 = {"100": (1.0, 70.6), "075": (0.75, 68.4), "050": (0.5, 63.7), "025": (0.25, 50.6)}


def _v1(tag: str):
    width, acc = _V1[tag]
    desc = f"MobileNetV1, width {width}: depthwise-separable convolutions, ReLU, no residuals"

    build = _builder("mobilenet_v1" if tag == "100" else f"mobilenet_v1_{tag}", MobileNetV1, width_mult=width)
    return _classifier("mobilenet_v1", desc, _imagenet(224, 256), _top1(acc, V1_PAPER))(build)


# --- MobileNetV2 -------------------------------------------------------------------------------------------
_V2 = {"100": (1.0, 71.878, 90.286, TV), "035": (0.35, 60.3, None, V2_SLIM), "050": (0.5, 65.4, None, V2_SLIM),
       "075": (0.75, 69.8, None, V2_SLIM), "140": (1.4, 75.0, None, V2_SLIM)}


def _v2(tag: str):
    width, acc, top5, source = _V2[tag]
    desc = f"MobileNetV2, width {width}: inverted residuals with linear bottlenecks, ReLU6"

    build = _builder("mobilenet_v2" if tag == "100" else f"mobilenet_v2_{tag}", MobileNetV2, width_mult=width)
    return _classifier("mobilenet_v2", desc, _imagenet(224, 256), _top1(acc, source, top5))(build)


# --- MobileNetV3 -------------------------------------------------------------------------------------------
def _v3(arch: str, acc: float, top5: float):
    desc = f"MobileNetV3-{arch.capitalize()}: NAS-found blocks, hard-swish, squeeze-excite"

    build = _builder(f"mobilenet_v3_{arch}", MobileNetV3, arch=arch)
    return _classifier("mobilenet_v3", desc, _imagenet(224, 256), _top1(acc, TV, top5))(build)


# --- EfficientNet ------------------------------------------------------------------------------------------
# torchvision's evaluation transforms: (crop, resize) per variant, bicubic.
_B = {"b0": (256, 77.692, 93.532), "b1": (256, 78.642, 94.186), "b2": (288, 80.608, 95.31),
      "b3": (320, 82.008, 96.054), "b4": (384, 83.384, 96.594), "b5": (456, 83.444, 96.628),
      "b6": (528, 84.008, 96.916), "b7": (600, 84.122, 96.908)}
_LITE = {"lite0": 75.1, "lite1": 76.7, "lite2": 77.6, "lite3": 79.8, "lite4": 81.5}
# Lite is trained on inputs scaled to [-1, 1]: mean 127, std 128 in 0-255 units.
_LITE_NORM = dict(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)


def _efficientnet(variant: str):
    size = VARIANTS[variant].resolution
    if variant.startswith("lite"):
        desc = f"EfficientNet-{variant.capitalize()}: int8-friendly edge variant (ReLU6, no squeeze-excite)"
        pre = Preprocess(input_size=size, mode="center_crop", resize_size=round(size / 0.875),
                         interpolation="bilinear", **_LITE_NORM)
        ref = _top1(_LITE[variant], LITE_TF)
    else:
        resize, acc, top5 = _B[variant]
        desc = f"EfficientNet-{variant.upper()}: compound-scaled MBConv, SiLU, squeeze-excite"
        pre, ref = _imagenet(size, resize, "bicubic"), _top1(acc, TV, top5)

    build = _builder(f"efficientnet_{variant}", EfficientNet, variant=variant)
    family = "efficientnet_lite" if variant.startswith("lite") else "efficientnet"
    return _classifier(family, desc, pre, ref)(build)


# --- LeNet-5 -----------------------------------------------------------------------------------------------
register_model(family="lenet", task="classification",
               preprocess=Preprocess(input_size=32, mode="resize", colour="GRAY", mean=(0.5,), std=(0.5,)),
               num_classes=10, labels="digits", num_classes_key="classifier.5.weight",
               description="LeNet-5 digit classifier with batch norm, ReLU and max-pooling")(_builder("lenet5", LeNet5))


# --- YOLO --------------------------------------------------------------------------------------------------
_YOLO_PRE = Preprocess(input_size=640, mode="letterbox", interpolation="bilinear", mean=(0.0,) * 3, std=(1.0,) * 3)
_YOLO_SIZES = {"n": ((16, 32, 64, 128, 256), (1, 2, 2, 1)), "s": ((32, 64, 128, 256, 512), (1, 2, 2, 1))}


def _yolo(size: str):
    widths, depths = _YOLO_SIZES[size]

    build = _builder(f"yolo_{size}", YOLO, widths=widths, depths=depths)
    desc = (f"Compact anchor-free YOLO ({size}): CSP backbone, PAN neck, DFL box head on strides 8/16/32, "
            "ReLU; decode and NMS outside the graph by default")
    return register_model(family="yolo", task="detection", preprocess=_YOLO_PRE, num_classes=80, labels="coco-80",
                          num_classes_key="head.cls.0.2.weight", description=desc)(build)


# --- Segmentation ------------------------------------------------------------------------------------------
# torchvision's evaluation transform resizes the shorter side to 520; an edge export takes a square input.
_SEG_PRE = Preprocess(input_size=520, mode="resize", interpolation="bilinear")
_COCO_VOC = "COCO val2017, the 20 Pascal VOC classes"
TV_SEG = "torchvision COCO_WITH_VOC_LABELS_V1 weights (docs.pytorch.org/vision/stable/models)"
_SEG = {
    "lraspp_mobilenet_v3_large": (LRASPP, "mobilenet_v3_large", "classifier.low_classifier.weight", (57.9, 91.2),
                                  "LR-ASPP on a dilated MobileNetV3-Large: output strides 8 and 16, a pooled gate"),
    "deeplabv3_mobilenet_v3_large": (DeepLabV3, "mobilenet_v3_large", "classifier.4.weight", (60.3, 91.2),
                                     "DeepLabV3 on a dilated MobileNetV3-Large: atrous spatial pyramid pooling"),
    "fcn_mobilenet_v2": (FCNMobileNetV2, "mobilenet_v2", "classifier.4.weight", None,
                         "FCN head (convolutions then upsampling) on a dilated MobileNetV2, output stride 16"),
}


def _segmentation(name: str):
    cls, backbone, key, ref, desc = _SEG[name]
    reference = Reference(metric="miou", value=ref[0], pixel_acc=ref[1], dataset=_COCO_VOC, source=TV_SEG) if ref else None
    return register_model(family="segmentation", task="segmentation", preprocess=_SEG_PRE, num_classes=21,
                          labels="voc-21", num_classes_key=key, description=desc, reference=reference,
                          backbone=backbone)(
        _builder(name, cls))


for _name in _SEG:
    _segmentation(_name)
for _tag in _V1:
    _v1(_tag)
for _tag in _V2:
    _v2(_tag)
_v3("large", 74.042, 91.34)
_v3("small", 67.668, 87.402)
for _variant in VARIANTS:
    _efficientnet(_variant)
for _size in _YOLO_SIZES:
    _yolo(_size)
