"""What training a model of each task means: which target each preprocessed item keeps, how the targets of the
whole set are stored, and the loss of one batch (augmented here, with the trainer's seeded generator).

A new task is one ``Objective`` subclass registered in ``OBJECTIVES``; ``trainer.py`` and ``data.py`` never
name a task.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..portable.preprocess import Geometry
from ..portable.segmentation import IGNORE
from .augment import Augment, classification_batch, detection_batch, segmentation_batch


class Objective:
    rendered_mode = "resize"  # how a rendered built-in (drawn at the input size) fills the input

    def __init__(self, model: torch.nn.Module, num_classes: int) -> None:
        self.model, self.num_classes = model, num_classes

    def default_start(self, name: str) -> str | None:
        """Weights to fine-tune from when none are given and training is not ``--from-scratch``."""
        return None

    def init_fresh(self, card: Any, cfg: Any, imgsz: int) -> list[str]:
        """Prepare a model that starts without weights; say what was done."""
        return []

    @staticmethod
    def target(item: tuple, geo: Geometry, input_hw: tuple[int, int]) -> Any:
        """A dataset item's label, in network-input pixels where it has a position."""
        raise NotImplementedError

    @staticmethod
    def stack(targets: list) -> dict[str, Any]:
        """Every item's target, stored for indexing by batch."""
        raise NotImplementedError

    def loss(self, x: torch.Tensor, data: dict[str, Any], idx: torch.Tensor, aug: Augment,
             gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


class Classification(Objective):
    def __init__(self, model: torch.nn.Module, num_classes: int) -> None:
        super().__init__(model, num_classes)
        self.criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)

    def init_fresh(self, card, cfg, imgsz):
        return [f"classifier head zero-initialised: {zero_head(self.model)}"] if cfg.head_init == "zero" else []

    @staticmethod
    def target(item, geo, input_hw):
        return item[1]

    @staticmethod
    def stack(targets):
        return {"y": torch.tensor(targets, dtype=torch.long)}

    def loss(self, x, data, idx, aug, gen):
        return self.criterion(self.model(classification_batch(x, aug, gen)), data["y"][idx])


class Detection(Objective):
    rendered_mode = "letterbox"

    def __init__(self, model: torch.nn.Module, num_classes: int) -> None:
        from .yolo_loss import YoloLoss

        super().__init__(model, num_classes)
        self.criterion = YoloLoss(num_classes, model.reg_max, model.strides)

    def default_start(self, name):
        from ..weights import default_weights, has_default

        # a detector learns far faster from trained features than from noise
        return str(default_weights(name)) if has_default(name) else None

    def init_fresh(self, card, cfg, imgsz):
        self.model.head.init_biases(imgsz)
        return []

    @staticmethod
    def target(item, geo, input_hw):
        return geo.to_input(item[1]), item[2]

    @staticmethod
    def stack(targets):
        return {"boxes": [torch.from_numpy(np.asarray(b, np.float32)) for b, _ in targets],
                "classes": [torch.from_numpy(np.asarray(c, np.int64)) for _, c in targets]}

    def loss(self, x, data, idx, aug, gen):
        picked = idx.tolist()
        x, labels, gt_boxes, mask = detection_batch(x, [data["boxes"][i] for i in picked],
                                                    [data["classes"][i] for i in picked], aug, gen)
        return self.criterion(self.model(x), labels, gt_boxes, mask)[0]


class Segmentation(Objective):
    """Pixel cross-entropy with 255 ignored; an auxiliary head adds half its loss (torchvision's reference)."""

    def init_fresh(self, card, cfg, imgsz):
        if not card.backbone or cfg.from_scratch:
            return []
        started = backbone_from_classifier(self.model, card.backbone)
        return [started] if started else []

    @staticmethod
    def target(item, geo, input_hw):
        return geo.mask_to_input(item[1], input_hw)

    @staticmethod
    def stack(targets):
        return {"masks": torch.from_numpy(np.stack(targets))}

    def loss(self, x, data, idx, aug, gen):
        x, masks = segmentation_batch(x, data["masks"][idx], aug, gen)
        out, masks = self.model(x), masks.long()
        loss = F.cross_entropy(out["out"], masks, ignore_index=IGNORE)
        if "aux" in out:
            loss = loss + 0.5 * F.cross_entropy(out["aux"], masks, ignore_index=IGNORE)
        return loss


def backbone_from_classifier(model: torch.nn.Module, classifier: str) -> str | None:
    """Start a segmentation backbone from edgecv's default weights of the classifier it is built on (as
    torchvision's segmentation models start from ImageNet backbones); None if there are none."""
    from ..models.segmentation import backbone_state
    from ..models.state_dict import read_state_dict
    from ..weights import default_weights, has_default

    if not has_default(classifier):
        return None
    path = default_weights(classifier)
    state = backbone_state(read_state_dict(str(path)))
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if len(fits) < len(state) // 2:
        return None  # another width: nothing sensible to start from
    model.load_state_dict({**own, **fits})
    return f"backbone from {classifier}'s default weights ({len(fits)} tensors)"


def zero_head(model: torch.nn.Module) -> str:
    """Zero the last Linear layer. torchvision's EfficientNet init draws it from U(±1/sqrt(classes)): fine for
    1000 classes, but for 12 its random logits are large, and from scratch the network silences them by killing
    its own features (measured: 5.6% of EfficientNet-Lite0's pooled features alive after 6 epochs, top-1 at
    chance). A zero head starts at uniform logits, so the features get the gradient instead."""
    name, last = next((n, m) for n, m in reversed(list(model.named_modules())) if isinstance(m, torch.nn.Linear))
    torch.nn.init.zeros_(last.weight)
    if last.bias is not None:
        torch.nn.init.zeros_(last.bias)
    return name


OBJECTIVES: dict[str, type[Objective]] = {"classification": Classification, "detection": Detection,
                                          "segmentation": Segmentation}

__all__ = ["OBJECTIVES", "Objective", "backbone_from_classifier", "zero_head"]
