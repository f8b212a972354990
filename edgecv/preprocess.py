"""The preprocessing contract: how an image becomes the network's input tensor.

Defined once here, recorded in every model card and (later) in every exported artifact, so that
training, evaluation, every runtime and the standalone device script prepare pixels identically.
Values are JSON-friendly so the contract can travel inside a model file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["center_crop", "letterbox", "resize"]
Interpolation = Literal["nearest", "bilinear", "bicubic"]
Colour = Literal["RGB", "BGR", "GRAY"]
Layout = Literal["NCHW", "NHWC"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """Pixels (uint8, 0-255) -> float tensor.

    ``mode``:
      * ``center_crop``: resize the shorter side to ``resize_size``, then crop ``input_size`` from the centre
        (the ImageNet evaluation recipe);
      * ``letterbox``: scale the longer side to ``input_size`` keeping aspect, pad with ``pad_value``
        (detection; boxes are mapped back through the same transform);
      * ``resize``: stretch to ``input_size`` x ``input_size``.
    Then ``x = (pixel / 255 - mean) / std`` per channel, in ``colour`` order and ``layout``.
    """

    input_size: int
    mode: Mode = "center_crop"
    resize_size: int | None = None
    interpolation: Interpolation = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    colour: Colour = "RGB"
    layout: Layout = "NCHW"
    pad_value: int = 114

    def __post_init__(self) -> None:
        if self.input_size < 1:
            raise ValueError(f"input_size must be positive, got {self.input_size}")
        if len(self.mean) != len(self.std) or len(self.mean) != self.channels:
            raise ValueError(f"mean/std need {self.channels} values for {self.colour}")
        if any(s <= 0 for s in self.std):
            raise ValueError("std values must be positive")
        if self.mode == "center_crop" and self.resize_size is None:
            object.__setattr__(self, "resize_size", self.input_size)
        elif self.mode != "center_crop":
            object.__setattr__(self, "resize_size", None)  # only a centre crop resizes before cropping

    @property
    def channels(self) -> int:
        return 1 if self.colour == "GRAY" else 3

    def at_size(self, input_size: int) -> Preprocess:
        """The same recipe at another input size; the crop ratio (e.g. 224/256) is kept."""
        resize = None
        if self.resize_size is not None:
            resize = max(input_size, round(self.resize_size * input_size / self.input_size))
        return dataclasses.replace(self, input_size=input_size, resize_size=resize)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocess:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown preprocessing fields: {sorted(unknown)}")
        d = dict(d)
        for key in ("mean", "std"):
            if key in d:
                d[key] = tuple(float(v) for v in d[key])
        return cls(**d)
