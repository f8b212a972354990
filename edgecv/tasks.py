"""The tasks edgecv handles, and the facts each task fixes: the one accuracy figure that decides, every figure
it reports, and what each output of its exported graph is. Everything that asks "which task" looks here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskFacts:
    headline: str  # the figure that decides (check, --max-drop, best epoch, a row's accuracy)
    accuracy: tuple[str, ...]  # every figure scoring reports for the task
    outputs: tuple[str, ...]  # the exported graph's outputs, in order (metadata ``outputs[].role``)


TASKS: dict[str, TaskFacts] = {
    "classification": TaskFacts("top1", ("top1", "top5"), ("logits",)),
    "detection": TaskFacts("map50_95", ("map50_95", "map50"), ("boxes", "scores")),
    # segmentation: per-pixel logits [B, C, H, W] at the network input's size
    "segmentation": TaskFacts("miou", ("miou", "pixel_acc"), ("logits",)),
}
