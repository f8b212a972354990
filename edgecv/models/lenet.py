"""LeNet-5 (LeCun et al., 1998), modernised: batch norm, ReLU and max-pooling instead of tanh and subsampling."""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConvNormAct, init_weights


class LeNet5(nn.Module):
    """32x32 single-channel input; C1(6@5x5) - S2 - C3(16@5x5) - S4 - F5(120) - F6(84) - output."""

    def __init__(self, *, num_classes: int = 10, in_chans: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvNormAct(in_chans, 6, 5), nn.MaxPool2d(2),
            ConvNormAct(6, 16, 5), nn.MaxPool2d(2),
        )
        # Adaptive pooling keeps the 16x5x5 = 400 features of the paper at 32x32 and lets other sizes run.
        self.pool = nn.AdaptiveAvgPool2d(5)
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
