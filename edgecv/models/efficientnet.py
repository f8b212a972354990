"""EfficientNet B0-B7 (Tan & Le, 2019) and EfficientNet-Lite0-4 from one builder.

B0-B7 are module-for-module torchvision's ``efficientnet_b*``. Lite is Google's int8-friendly edge
variant: ReLU6 instead of SiLU, no squeeze-excite, and a stem, head and first/last stage that do
not scale with the compound coefficients (``efficientnet_lite_builder.py`` in tensorflow/tpu).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import nn

from .layers import (
    ConvNormAct,
    Factory,
    SqueezeExcitation,
    StochasticDepth,
    init_weights,
    make_divisible,
)


@dataclass(frozen=True)
class StageConfig:
    """One stage of Table 1: expansion, kernel, first stride, channels in/out, repeats."""

    expand_ratio: int
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int


BASE = [
    StageConfig(1, 3, 1, 32, 16, 1), StageConfig(6, 3, 2, 16, 24, 2), StageConfig(6, 5, 2, 24, 40, 2),
    StageConfig(6, 3, 2, 40, 80, 3), StageConfig(6, 5, 1, 80, 112, 3), StageConfig(6, 5, 2, 112, 192, 4),
    StageConfig(6, 3, 1, 192, 320, 1),
]


@dataclass(frozen=True)
class Variant:
    width_mult: float
    depth_mult: float
    resolution: int
    dropout: float


VARIANTS = {
    "b0": Variant(1.0, 1.0, 224, 0.2), "b1": Variant(1.0, 1.1, 240, 0.2), "b2": Variant(1.1, 1.2, 288, 0.3),
    "b3": Variant(1.2, 1.4, 300, 0.3), "b4": Variant(1.4, 1.8, 380, 0.4), "b5": Variant(1.6, 2.2, 456, 0.4),
    "b6": Variant(1.8, 2.6, 528, 0.5), "b7": Variant(2.0, 3.1, 600, 0.5),
    "lite0": Variant(1.0, 1.0, 224, 0.2), "lite1": Variant(1.0, 1.1, 240, 0.2),
    "lite2": Variant(1.1, 1.2, 260, 0.3), "lite3": Variant(1.2, 1.4, 280, 0.3),
    "lite4": Variant(1.4, 1.8, 300, 0.3),
}


class MBConv(nn.Module):
    def __init__(self, cnf: StageConfig, sd_prob: float, norm_layer: Factory, activation: Factory,
                 use_se: bool) -> None:
        super().__init__()
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        expanded = make_divisible(cnf.input_channels * cnf.expand_ratio)
        layers: list[nn.Module] = []
        if expanded != cnf.input_channels:
            layers.append(ConvNormAct(cnf.input_channels, expanded, 1, norm_layer=norm_layer,
                                      activation_layer=activation))
        layers.append(ConvNormAct(expanded, expanded, cnf.kernel, cnf.stride, groups=expanded,
                                  norm_layer=norm_layer, activation_layer=activation))
        if use_se:
            squeeze = max(1, cnf.input_channels // 4)
            layers.append(SqueezeExcitation(expanded, squeeze, activation=partial(nn.SiLU, inplace=True)))
        layers.append(ConvNormAct(expanded, cnf.out_channels, 1, norm_layer=norm_layer, activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(sd_prob)
        self.out_channels = cnf.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + self.stochastic_depth(out) if self.use_res_connect else out


class EfficientNet(nn.Module):
    def __init__(self, *, variant: str = "b0", num_classes: int = 1000, dropout: float | None = None,
                 stochastic_depth_prob: float = 0.2, in_chans: int = 3) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet variant {variant!r}; choose from {', '.join(VARIANTS)}")
        v = VARIANTS[variant]
        lite = variant.startswith("lite")
        # torchvision ports B5-B7 from TF weights and keeps TF's batch-norm settings for them; Lite is TF-native.
        tf_norm = lite or variant in ("b5", "b6", "b7")
        norm_layer: Factory = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01) if tf_norm else nn.BatchNorm2d
        activation: Factory = nn.ReLU6 if lite else nn.SiLU
        stages = self._scaled_stages(v, fixed_ends=lite)

        stem = 32 if lite else stages[0].input_channels
        layers: list[nn.Module] = [ConvNormAct(in_chans, stem, 3, stride=2, norm_layer=norm_layer,
                                               activation_layer=activation)]
        total_blocks = sum(s.num_layers for s in stages)
        block_id = 0
        for stage_cnf in stages:
            blocks: list[nn.Module] = []
            for i in range(stage_cnf.num_layers):
                cnf = stage_cnf if i == 0 else replace(stage_cnf, input_channels=stage_cnf.out_channels, stride=1)
                sd_prob = stochastic_depth_prob * block_id / total_blocks
                blocks.append(MBConv(cnf, sd_prob, norm_layer, activation, use_se=not lite))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
        last_in = stages[-1].out_channels
        head = 1280 if lite else 4 * last_in
        layers.append(ConvNormAct(last_in, head, 1, norm_layer=norm_layer, activation_layer=activation))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=v.dropout if dropout is None else dropout, inplace=True), nn.Linear(head, num_classes)
        )
        init_weights(self, linear="uniform")

    @staticmethod
    def _scaled_stages(v: Variant, fixed_ends: bool) -> list[StageConfig]:
        stages = []
        for i, s in enumerate(BASE):
            keep_depth = fixed_ends and i in (0, len(BASE) - 1)
            stages.append(replace(
                s,
                input_channels=make_divisible(s.input_channels * v.width_mult),
                out_channels=make_divisible(s.out_channels * v.width_mult),
                num_layers=s.num_layers if keep_depth else int(math.ceil(s.num_layers * v.depth_mult)),
            ))
        if fixed_ends:  # the stem stays 32 wide, so the first stage reads 32 channels
            stages[0] = replace(stages[0], input_channels=32)
        return stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
