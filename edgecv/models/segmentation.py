"""Semantic segmentation: LR-ASPP and DeepLabV3 on a dilated MobileNetV3-Large (module-for-module
torchvision's ``lraspp_mobilenet_v3_large`` and ``deeplabv3_mobilenet_v3_large``), and a small FCN head on a
dilated MobileNetV2.

Each backbone is the zoo's own classifier built with ``dilated=True`` (its last stage trades stride for
dilation: output stride 16), cut after its last feature layer. Like torchvision, ``forward`` returns
``{"out": logits [B, C, H, W]}`` (plus ``"aux"`` when an auxiliary head is built) at the input's size;
``decode_head`` picks ``out``, which is what scoring, the torch runtime and the exported graph see.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3


class IntermediateLayerGetter(nn.ModuleDict):
    """A backbone's ``features`` up to the last layer asked for, returning the named ones (torchvision's
    class of the same name: its keys are the feature indices, so state-dict keys read ``backbone.4.…``)."""

    def __init__(self, features: nn.Sequential, return_layers: dict[str, str]) -> None:
        last = max(int(k) for k in return_layers)
        super().__init__(OrderedDict((str(i), m) for i, m in enumerate(features) if i <= last))
        self.return_layers = dict(return_layers)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


def stage_starts(features: nn.Sequential) -> list[int]:
    """Indices of the layers that begin each stage (C0 … C5): the stem, every block torchvision marks
    ``_is_cn`` (stride 2 in the classifier, even where dilation replaced it), and the last layer."""
    return [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)] + [len(features) - 1]


def _upsample(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class SegmentationModel(nn.Module):
    """The part every head shares: ``decode_head`` (the logits edgecv scores and exports)."""

    def decode_head(self, raw: dict[str, torch.Tensor]) -> torch.Tensor:
        return raw["out"]


# --- LR-ASPP (Howard et al. 2019, section 6.3) --------------------------------------------------------------
class LRASPPHead(nn.Module):
    def __init__(self, low_channels: int, high_channels: int, num_classes: int, inter_channels: int) -> None:
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                 nn.BatchNorm2d(inter_channels), nn.ReLU(inplace=True))
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                   nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        low, high = features["low"], features["high"]
        x = self.cbr(high) * self.scale(high)
        x = _upsample(x, low.shape[-2:])
        return self.low_classifier(low) + self.high_classifier(x)


class LRASPP(SegmentationModel):
    def __init__(self, *, num_classes: int = 21, inter_channels: int = 128, width_mult: float = 1.0,
                 in_chans: int = 3) -> None:
        super().__init__()
        features = MobileNetV3(arch="large", width_mult=width_mult, in_chans=in_chans, dilated=True).features
        stages = stage_starts(features)
        low, high = stages[-4], stages[-1]  # C2 (output stride 8) and C5 (16)
        self.backbone = IntermediateLayerGetter(features, {str(low): "low", str(high): "high"})
        self.classifier = LRASPPHead(features[low].out_channels, features[high].out_channels, num_classes,
                                     inter_channels)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.classifier(self.backbone(x))
        return OrderedDict(out=_upsample(out, x.shape[-2:]))


# --- DeepLabV3 (Chen et al. 2017) and FCN (Long et al. 2015) heads ------------------------------------------
class ASPPConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, dilation: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class ASPPPooling(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        for module in self:
            x = module(x)
        return _upsample(x, size)


class ASPP(nn.Module):
    def __init__(self, in_channels: int, atrous_rates: tuple[int, ...], out_channels: int = 256) -> None:
        super().__init__()
        branches: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                                   nn.BatchNorm2d(out_channels), nn.ReLU())]
        branches += [ASPPConv(in_channels, out_channels, rate) for rate in atrous_rates]
        branches.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(nn.Conv2d(len(branches) * out_channels, out_channels, 1, bias=False),
                                     nn.BatchNorm2d(out_channels), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


class DeepLabHead(nn.Sequential):
    def __init__(self, in_channels: int, num_classes: int, atrous_rates: tuple[int, ...] = (12, 24, 36)) -> None:
        super().__init__(ASPP(in_channels, atrous_rates), nn.Conv2d(256, 256, 3, padding=1, bias=False),
                         nn.BatchNorm2d(256), nn.ReLU(), nn.Conv2d(256, num_classes, 1))


class FCNHead(nn.Sequential):
    """The fully convolutional classifier: a 3x3 conv to a quarter of the channels, then 1x1 to classes."""

    def __init__(self, in_channels: int, channels: int) -> None:
        inter = in_channels // 4
        super().__init__(nn.Conv2d(in_channels, inter, 3, padding=1, bias=False), nn.BatchNorm2d(inter), nn.ReLU(),
                         nn.Dropout(0.1), nn.Conv2d(inter, channels, 1))


class SimpleSegmentation(SegmentationModel):
    """torchvision's ``_SimpleSegmentationModel``: one head on the last features (and an optional auxiliary
    FCN head on output stride 8, a training aid), each upsampled to the input."""

    def __init__(self, backbone: IntermediateLayerGetter, classifier: nn.Module, aux_classifier: nn.Module | None):
        super().__init__()
        self.backbone, self.classifier, self.aux_classifier = backbone, classifier, aux_classifier

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(x)
        result = OrderedDict(out=_upsample(self.classifier(features["out"]), x.shape[-2:]))
        if self.aux_classifier is not None:
            result["aux"] = _upsample(self.aux_classifier(features["aux"]), x.shape[-2:])
        return result


def _heads_on(features: nn.Sequential, aux_loss: bool) -> tuple[IntermediateLayerGetter, int, int]:
    stages = stage_starts(features)
    out, aux = stages[-1], stages[-4]  # C5 (output stride 16) and C2 (8)
    layers = {str(out): "out", **({str(aux): "aux"} if aux_loss else {})}
    return IntermediateLayerGetter(features, layers), features[out].out_channels, features[aux].out_channels


class DeepLabV3(SimpleSegmentation):
    def __init__(self, *, num_classes: int = 21, aux_loss: bool = False, width_mult: float = 1.0,
                 in_chans: int = 3) -> None:
        features = MobileNetV3(arch="large", width_mult=width_mult, in_chans=in_chans, dilated=True).features
        backbone, out_ch, aux_ch = _heads_on(features, aux_loss)
        super().__init__(backbone, DeepLabHead(out_ch, num_classes), FCNHead(aux_ch, num_classes) if aux_loss else None)


class FCNMobileNetV2(SimpleSegmentation):
    """Not a torchvision model: torchvision's FCN head (and layout) on edgecv's dilated MobileNetV2."""

    def __init__(self, *, num_classes: int = 21, aux_loss: bool = False, width_mult: float = 1.0,
                 in_chans: int = 3) -> None:
        features = MobileNetV2(width_mult=width_mult, in_chans=in_chans, dilated=True).features
        backbone, out_ch, aux_ch = _heads_on(features, aux_loss)
        super().__init__(backbone, FCNHead(out_ch, num_classes), FCNHead(aux_ch, num_classes) if aux_loss else None)


def backbone_state(classifier_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A classifier's ``features.N…`` tensors renamed to a segmentation model's ``backbone.N…``: how a
    segmentation model starts from a trained classifier (torchvision's ``weights_backbone``)."""
    return {"backbone." + k[len("features."):]: v for k, v in classifier_state.items() if k.startswith("features.")}


__all__ = ["LRASPP", "DeepLabV3", "FCNMobileNetV2", "IntermediateLayerGetter", "backbone_state", "stage_starts"]
