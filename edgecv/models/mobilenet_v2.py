"""MobileNetV2 (Sandler et al., 2018), module-for-module torchvision's ``mobilenet_v2``."""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConvNormAct, init_weights, make_divisible

# t (expansion), c (channels), n (repeats), s (first stride): Table 2 of the paper.
_SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, dilation: int = 1) -> None:
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self._is_cn = stride > 1  # starts a stage (the segmentation heads pick their features by it)
        self.use_res_connect = stride == 1 and inp == oup
        stride = 1 if dilation > 1 else stride
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(inp, hidden, 1, activation_layer=nn.ReLU6))
        layers += [
            ConvNormAct(hidden, hidden, 3, stride, groups=hidden, activation_layer=nn.ReLU6, dilation=dilation),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, *, width_mult: float = 1.0, num_classes: int = 1000, dropout: float = 0.2,
                 in_chans: int = 3, dilated: bool = False) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        channels = make_divisible(32 * width_mult)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult))
        layers: list[nn.Module] = [ConvNormAct(in_chans, channels, 3, stride=2, activation_layer=nn.ReLU6)]
        for stage, (t, c, n, s) in enumerate(_SETTING):
            out = make_divisible(c * width_mult)
            # dilated: the last strided stage (160 channels) dilates instead, output stride 16 like MobileNetV3's
            dilation = 2 if dilated and stage >= len(_SETTING) - 2 else 1
            for i in range(n):
                layers.append(InvertedResidual(channels, out, s if i == 0 else 1, t, dilation))
                channels = out
        layers.append(ConvNormAct(channels, self.last_channel, 1, activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))
