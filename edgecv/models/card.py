"""Model cards: the facts about a zoo model that travel with it (task, input, labels, size, accuracy)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from ..labels import load_labels
from ..preprocess import Preprocess
from ..tasks import TASKS as TASK_FACTS

Task = Literal["classification", "detection", "segmentation"]
TASKS: tuple[str, ...] = tuple(TASK_FACTS)


@dataclass(frozen=True)
class Reference:
    """A published accuracy for the architecture, with where it comes from."""

    metric: str  # "top1", "map50_95" or "miou"
    value: float  # percent
    dataset: str
    source: str
    top5: float | None = None
    pixel_acc: float | None = None


@dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    task: Task
    description: str
    preprocess: Preprocess
    num_classes: int
    labels: str | tuple[str, ...] | None  # a label set in edgecv/labels/, explicit names, or None (indices)
    num_classes_key: str  # state-dict key whose first dimension is the class count
    params: int | None = None  # at the default num_classes, counted by edgecv.models.complexity
    macs: int | None = None  # multiply-accumulates at the default input size, batch 1
    reference: Reference | None = None
    backbone: str | None = None  # the zoo classifier whose ``features`` this model's backbone is

    @property
    def input_size(self) -> int:
        return self.preprocess.input_size

    @property
    def in_chans(self) -> int:
        return self.preprocess.channels

    def label_names(self) -> list[str]:
        if self.labels is None:
            return [str(i) for i in range(self.num_classes)]
        if isinstance(self.labels, tuple):
            return list(self.labels)
        return list(load_labels(self.labels))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["preprocess"] = self.preprocess.to_dict()
        d["input_size"] = self.input_size
        return d
