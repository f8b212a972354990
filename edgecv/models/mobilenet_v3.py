"""MobileNetV3 Small and Large (Howard et al., 2019), module-for-module torchvision's builders."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import nn

from .layers import ConvNormAct, SqueezeExcitation, init_weights, make_divisible


@dataclass(frozen=True)
class BneckConfig:
    """One row of Tables 1-2: input, kernel, expanded and output channels, SE, activation, stride."""

    input_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    use_hs: bool  # hard-swish, else ReLU
    stride: int
    dilation: int = 1  # segmentation backbones trade the last stride for dilation (output stride 16)

    def scaled(self, width_mult: float) -> BneckConfig:
        adj = lambda c: make_divisible(c * width_mult)  # noqa: E731
        return replace(self, input_channels=adj(self.input_channels), expanded_channels=adj(self.expanded_channels),
                       out_channels=adj(self.out_channels))


RE, HS = False, True
LARGE = [
    BneckConfig(16, 3, 16, 16, False, RE, 1), BneckConfig(16, 3, 64, 24, False, RE, 2),
    BneckConfig(24, 3, 72, 24, False, RE, 1), BneckConfig(24, 5, 72, 40, True, RE, 2),
    BneckConfig(40, 5, 120, 40, True, RE, 1), BneckConfig(40, 5, 120, 40, True, RE, 1),
    BneckConfig(40, 3, 240, 80, False, HS, 2), BneckConfig(80, 3, 200, 80, False, HS, 1),
    BneckConfig(80, 3, 184, 80, False, HS, 1), BneckConfig(80, 3, 184, 80, False, HS, 1),
    BneckConfig(80, 3, 480, 112, True, HS, 1), BneckConfig(112, 3, 672, 112, True, HS, 1),
    BneckConfig(112, 5, 672, 160, True, HS, 2), BneckConfig(160, 5, 960, 160, True, HS, 1),
    BneckConfig(160, 5, 960, 160, True, HS, 1),
]
SMALL = [
    BneckConfig(16, 3, 16, 16, True, RE, 2), BneckConfig(16, 3, 72, 24, False, RE, 2),
    BneckConfig(24, 3, 88, 24, False, RE, 1), BneckConfig(24, 5, 96, 40, True, HS, 2),
    BneckConfig(40, 5, 240, 40, True, HS, 1), BneckConfig(40, 5, 240, 40, True, HS, 1),
    BneckConfig(40, 5, 120, 48, True, HS, 1), BneckConfig(48, 5, 144, 48, True, HS, 1),
    BneckConfig(48, 5, 288, 96, True, HS, 2), BneckConfig(96, 5, 576, 96, True, HS, 1),
    BneckConfig(96, 5, 576, 96, True, HS, 1),
]
_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


class InvertedResidual(nn.Module):
    def __init__(self, cnf: BneckConfig) -> None:
        super().__init__()
        act = nn.Hardswish if cnf.use_hs else nn.ReLU
        stride = 1 if cnf.dilation > 1 else cnf.stride
        self._is_cn = cnf.stride > 1  # starts a stage (torchvision's marker, kept when dilation replaces the stride)
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        layers: list[nn.Module] = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(ConvNormAct(cnf.input_channels, cnf.expanded_channels, 1, norm_layer=_NORM,
                                      activation_layer=act))
        layers.append(ConvNormAct(cnf.expanded_channels, cnf.expanded_channels, cnf.kernel, stride,
                                  groups=cnf.expanded_channels, norm_layer=_NORM, activation_layer=act,
                                  dilation=cnf.dilation))
        if cnf.use_se:
            squeeze = make_divisible(cnf.expanded_channels // 4)
            layers.append(SqueezeExcitation(cnf.expanded_channels, squeeze, scale_activation=nn.Hardsigmoid))
        layers.append(ConvNormAct(cnf.expanded_channels, cnf.out_channels, 1, norm_layer=_NORM,
                                  activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.use_res_connect else self.block(x)


class MobileNetV3(nn.Module):
    def __init__(self, *, arch: str = "large", width_mult: float = 1.0, num_classes: int = 1000,
                 dropout: float = 0.2, in_chans: int = 3, dilated: bool = False) -> None:
        super().__init__()
        if arch not in ("large", "small"):
            raise ValueError(f"arch must be 'large' or 'small', got {arch!r}")
        setting = [c.scaled(width_mult) for c in (LARGE if arch == "large" else SMALL)]
        if dilated:  # the last stage (C4: three blocks in both archs) keeps output stride 16, as torchvision's
            setting = setting[:-3] + [replace(c, dilation=2) for c in setting[-3:]]
        last_channel = make_divisible((1280 if arch == "large" else 1024) * width_mult)
        layers: list[nn.Module] = [
            ConvNormAct(in_chans, setting[0].input_channels, 3, stride=2, norm_layer=_NORM,
                        activation_layer=nn.Hardswish)
        ]
        layers += [InvertedResidual(cnf) for cnf in setting]
        last_in = setting[-1].out_channels
        layers.append(ConvNormAct(last_in, 6 * last_in, 1, norm_layer=_NORM, activation_layer=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(6 * last_in, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(last_channel, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
