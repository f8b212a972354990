"""A compact anchor-free YOLO detector: CSP backbone, PAN neck, decoupled head on strides 8/16/32.

The network returns raw head maps only. Turning them into boxes (``decode``) and pruning overlaps
(``nms``) are plain functions in ``yolo_ops``; ``heads.DetectionExport`` puts them inside the graph
when an artifact should emit boxes directly. ReLU everywhere: it quantises to int8 without the
accuracy and speed cost of SiLU on edge runtimes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import ConvNormAct, init_weights
from .yolo_ops import decode

STRIDES = (8, 16, 32)


def _conv(c1: int, c2: int, k: int = 1, s: int = 1) -> ConvNormAct:
    return ConvNormAct(c1, c2, k, s, activation_layer=nn.ReLU)


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool) -> None:
        super().__init__()
        self.cv1, self.cv2 = _conv(c, c, 3), _conv(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """Cross-stage partial block: split, run n bottlenecks on one half, concatenate every step."""

    def __init__(self, c1: int, c2: int, n: int, shortcut: bool) -> None:
        super().__init__()
        self.c = c2 // 2
        self.cv1 = _conv(c1, 2 * self.c)
        self.cv2 = _conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5 max-pools widen the receptive field cheaply."""

    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.cv1 = _conv(c1, c1 // 2)
        self.cv2 = _conv(c1 // 2 * 4, c2)
        self.pool = nn.MaxPool2d(5, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Backbone(nn.Module):
    def __init__(self, w: tuple[int, int, int, int, int], d: tuple[int, int, int, int], in_chans: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv(in_chans, w[0], 3, 2), _conv(w[0], w[1], 3, 2), C2f(w[1], w[1], d[0], True))
        self.stage3 = nn.Sequential(_conv(w[1], w[2], 3, 2), C2f(w[2], w[2], d[1], True))  # stride 8
        self.stage4 = nn.Sequential(_conv(w[2], w[3], 3, 2), C2f(w[3], w[3], d[2], True))  # stride 16
        self.stage5 = nn.Sequential(_conv(w[3], w[4], 3, 2), C2f(w[4], w[4], d[3], True), SPPF(w[4], w[4]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c3 = self.stage3(self.stem(x))
        c4 = self.stage4(c3)
        return c3, c4, self.stage5(c4)


class PAN(nn.Module):
    """Top-down then bottom-up feature fusion (FPN + PAN)."""

    def __init__(self, w: tuple[int, int, int], n: int) -> None:
        super().__init__()
        c3, c4, c5 = w
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.td4 = C2f(c5 + c4, c4, n, False)
        self.td3 = C2f(c4 + c3, c3, n, False)
        self.down3 = _conv(c3, c3, 3, 2)
        self.bu4 = C2f(c3 + c4, c4, n, False)
        self.down4 = _conv(c4, c4, 3, 2)
        self.bu5 = C2f(c4 + c5, c5, n, False)

    def forward(self, feats: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
        c3, c4, c5 = feats
        t4 = self.td4(torch.cat([self.up(c5), c4], 1))
        p3 = self.td3(torch.cat([self.up(t4), c3], 1))
        p4 = self.bu4(torch.cat([self.down3(p3), t4], 1))
        p5 = self.bu5(torch.cat([self.down4(p4), c5], 1))
        return [p3, p4, p5]


class DetectHead(nn.Module):
    """Per level: a box branch predicting a distribution over ``reg_max`` distances per side (DFL) and a
    class branch predicting per-class logits. No anchors and no objectness."""

    def __init__(self, num_classes: int, channels: tuple[int, int, int], reg_max: int = 16) -> None:
        super().__init__()
        self.num_classes, self.reg_max = num_classes, reg_max
        c_box = max(16, channels[0] // 4, 4 * reg_max)
        c_cls = max(channels[0], min(num_classes, 100))
        self.box = nn.ModuleList(
            nn.Sequential(_conv(c, c_box, 3), _conv(c_box, c_box, 3), nn.Conv2d(c_box, 4 * reg_max, 1)) for c in channels
        )
        self.cls = nn.ModuleList(
            nn.Sequential(_conv(c, c_cls, 3), _conv(c_cls, c_cls, 3), nn.Conv2d(c_cls, num_classes, 1)) for c in channels
        )

    def init_biases(self, imgsz: int = 640) -> None:
        for box, cls, stride in zip(self.box, self.cls, STRIDES):
            nn.init.constant_(box[-1].bias, 1.0)
            # prior: about 5 objects per image spread over the level's cells
            nn.init.constant_(cls[-1].bias, math.log(5 / self.num_classes / (imgsz / stride) ** 2))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.cat([b(f), c(f)], 1) for f, b, c in zip(feats, self.box, self.cls)]


class YOLO(nn.Module):
    """``forward`` returns one map per stride, shape ``[B, 4 * reg_max + num_classes, H/s, W/s]``."""

    strides = STRIDES

    def __init__(self, *, widths: tuple[int, int, int, int, int], depths: tuple[int, int, int, int],
                 num_classes: int = 80, reg_max: int = 16, in_chans: int = 3) -> None:
        super().__init__()
        self.num_classes, self.reg_max = num_classes, reg_max
        self.backbone = Backbone(widths, depths, in_chans)
        self.neck = PAN(widths[2:], n=depths[0])
        self.head = DetectHead(num_classes, widths[2:], reg_max)
        init_weights(self)
        self.head.init_biases()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.head(self.neck(self.backbone(x)))

    def decode_head(self, maps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The detector hook (``models.heads``): raw maps -> boxes ``[B, N, 4]`` in input pixels, scores
        ``[B, N, C]``."""
        return decode(maps, self.reg_max, self.strides)
