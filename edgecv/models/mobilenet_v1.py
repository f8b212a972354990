"""MobileNetV1 (Howard et al., 2017): a stem conv and 13 depthwise-separable blocks."""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConvNormAct, init_weights, make_divisible

# (output channels, stride) of each depthwise-separable block, Table 1 of the paper.
_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


class DepthwiseSeparable(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(
            ConvNormAct(in_channels, in_channels, 3, stride, groups=in_channels),
            ConvNormAct(in_channels, out_channels, 1),
        )


class MobileNetV1(nn.Module):
    def __init__(self, *, width_mult: float = 1.0, num_classes: int = 1000, dropout: float = 0.001,
                 in_chans: int = 3) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        channels = make_divisible(32 * width_mult)
        layers: list[nn.Module] = [ConvNormAct(in_chans, channels, 3, stride=2)]
        for out, stride in _BLOCKS:
            out = make_divisible(out * width_mult)
            layers.append(DepthwiseSeparable(channels, out, stride))
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(channels, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))
