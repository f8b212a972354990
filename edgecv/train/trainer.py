"""``edgecv train``: train or fine-tune a zoo model on a dataset; keep the best epoch as a checkpoint."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..data import get_dataset
from ..data.builtin import DEFAULT_SIZES
from ..errors import TrainError, UsageError
from ..metrics import HEADLINE
from ..models.api import create_model, get_card
from ..models.checkpoint import save_checkpoint
from ..resources import cores
from ..scoring import score
from .augment import Augment, classification_batch, detection_batch, segmentation_batch
from .data import cache_items, load_tensors


@dataclass
class TrainConfig:
    model: str
    data: str
    epochs: int = 10
    imgsz: int | None = None
    batch: int = 64
    out: str = "runs/train"
    weights: str | None = None
    lr: float = 2e-3
    weight_decay: float = 0.05
    seed: int = 0
    limit: int | None = None
    val_limit: int | None = None
    workers: int = 2
    from_scratch: bool = False  # detection/segmentation: do not start from edgecv's default detector/backbone weights
    model_args: dict[str, Any] = field(default_factory=dict)  # architecture arguments, e.g. stochastic_depth_prob
    head_init: str = "model"  # classifier from scratch: "model" (the architecture's own init) or "zero"
    augment: Augment = field(default_factory=Augment)  # --fliplr, --shift, --scale, --colour, --mosaic


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=False)


def _input_size(cfg: TrainConfig, card) -> int:
    if cfg.imgsz:
        return cfg.imgsz
    return DEFAULT_SIZES[cfg.data] if cfg.data in RENDERED else card.input_size


def _fine_tune_from(model: torch.nn.Module, weights: str, head_key: str) -> list[str]:
    """Load every tensor that fits. Tensors that differ only in the class dimension (a classifier, or
    YOLO's class convolution at each stride) stay freshly initialised for the new classes."""
    from ..models.state_dict import classes_in_state_dict, load_state_dict, read_state_dict

    state = read_state_dict(weights)
    own = model.state_dict()
    old, new = classes_in_state_dict(state, head_key), classes_in_state_dict(own, head_key)
    skipped = [k for k, v in state.items() if k in own and own[k].shape != v.shape and old != new
               and v.shape[0] == old and own[k].shape[0] == new and v.shape[1:] == own[k].shape[1:]]
    merged = {**own, **{k: v for k, v in state.items() if k not in skipped}}
    load_state_dict(model, merged, source=weights)
    return skipped


HEAD_INITS = ("model", "zero")
RENDERED = ("shapes", "shapes-det", "shapes-seg")  # built-ins rendered at the input size: nothing to crop away
# how each task fills a rendered built-in's input: classifiers stretch, detectors keep aspect
RENDERED_MODE = {"classification": "resize", "detection": "letterbox", "segmentation": "resize"}


def _backbone_from_classifier(model: torch.nn.Module, classifier: str) -> str | None:
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


def _zero_head(model: torch.nn.Module) -> str:
    """Zero the last Linear layer. torchvision's EfficientNet init draws it from U(±1/sqrt(classes)): fine for
    1000 classes, but for 12 its random logits are large, and from scratch the network silences them by killing
    its own features (measured: 5.6% of EfficientNet-Lite0's pooled features alive after 6 epochs, top-1 at
    chance). A zero head starts at uniform logits, so the features get the gradient instead."""
    name, last = next((n, m) for n, m in reversed(list(model.named_modules())) if isinstance(m, torch.nn.Linear))
    torch.nn.init.zeros_(last.weight)
    if last.bias is not None:
        torch.nn.init.zeros_(last.bias)
    return name


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train; return the best epoch's metrics and the checkpoint paths."""
    if cfg.epochs < 1 or cfg.batch < 1:
        raise UsageError("--epochs and --batch must be at least 1")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    card = get_card(cfg.model)
    imgsz = _input_size(cfg, card)
    train_ds = get_dataset(cfg.data, "train", imgsz=imgsz, limit=cfg.limit, seed=cfg.seed)
    val_ds = get_dataset(cfg.data, "val", imgsz=imgsz, limit=cfg.val_limit)
    if train_ds.task != card.task:
        raise UsageError(f"{cfg.model} is a {card.task} model but {cfg.data} is {train_ds.task} data")
    if val_ds.labels != train_ds.labels:
        raise UsageError(f"{cfg.data}: train and val splits name different classes")
    pre = card.preprocess.at_size(imgsz)
    if cfg.data in RENDERED:
        pre = dataclasses.replace(pre, mode=RENDERED_MODE[card.task])
    model = create_model(cfg.model, num_classes=train_ds.num_classes, **cfg.model_args)
    notes = []
    start = cfg.weights
    if start is None and card.task == "detection" and not cfg.from_scratch:
        from ..weights import default_weights, has_default

        if has_default(cfg.model):  # a detector learns far faster from trained features than from noise
            start = str(default_weights(cfg.model))
    if start:
        skipped = _fine_tune_from(model, start, card.num_classes_key)
        notes.append(f"fine-tuning from {start}" + (f" (new head: {len(skipped)} tensors)" if skipped else ""))
    elif card.task == "detection":
        model.head.init_biases(imgsz)
    elif card.backbone and not cfg.from_scratch:
        started = _backbone_from_classifier(model, card.backbone)
        if started:
            notes.append(started)
    if cfg.head_init not in HEAD_INITS:
        raise UsageError(f"unknown --head-init {cfg.head_init!r} (choose from {', '.join(HEAD_INITS)})")
    if cfg.head_init == "zero" and not start and card.task == "classification":
        notes.append(f"classifier head zero-initialised: {_zero_head(model)}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cores())  # the cores this process may use (taskset, cgroups), not the machine's

    with _progress() as bar:
        task = bar.add_task("preparing train", total=len(train_ds), info=f"{cfg.data} @ {imgsz}px")
        train_t = load_tensors(train_ds, pre, cfg.workers, lambda n: bar.advance(task, n))
        task = bar.add_task("preparing val", total=len(val_ds), info=f"{cfg.data} @ {imgsz}px")
        val_ds = cache_items(val_ds, cfg.workers, lambda n: bar.advance(task, n))
        steps_per_epoch = math.ceil(len(train_ds) / cfg.batch)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        total, warmup = cfg.epochs * steps_per_epoch, min(steps_per_epoch, 300)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
        criterion = _criterion(card.task, train_ds.num_classes, model)
        aug = cfg.augment.for_data(train_ds.flip_invariant, card.task)
        bar.console.print(f"augmentation: {aug.describe(card.task)}"
                          + ("" if cfg.augment.fliplr is not None or aug.fliplr else
                             f" ({cfg.data} says its classes are not mirror images)"))
        history, best, metric = [], None, HEADLINE[card.task]
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            task = bar.add_task(f"epoch {epoch}/{cfg.epochs}", total=steps_per_epoch, info="")
            order = torch.randperm(len(train_ds), generator=gen)
            t0, seen, running = time.perf_counter(), 0, 0.0
            for step in range(steps_per_epoch):
                idx = order[step * cfg.batch: (step + 1) * cfg.batch]
                loss = _step(card.task, train_t, idx, model, criterion, gen, aug)
                if not torch.isfinite(loss):  # NaN weights must never reach a checkpoint
                    kept = f"{out / 'last.safetensors'} (epoch {epoch - 1})" if history else "none was written"
                    raise TrainError(f"training stopped at epoch {epoch}, step {step + 1}: the loss is "
                                     f"{loss.item()}; the last good checkpoint: {kept}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                optimizer.step()
                schedule.step()
                seen += len(idx)
                running = 0.9 * running + 0.1 * loss.item() if step else loss.item()
                bar.update(task, advance=1, info=f"loss {running:.3f}  {seen / (time.perf_counter() - t0):.0f} img/s")
            val_task = bar.add_task("  validating", total=len(val_ds), info="")
            scores = score(model, val_ds, preprocess=pre, batch_size=64,
                           progress=lambda done, total: bar.update(val_task, completed=done))  # noqa: B023
            record = {"epoch": epoch, "loss": round(running, 5), **{k: round(v, 3) for k, v in scores.items()}}
            history.append(record)
            bar.update(val_task, info=", ".join(f"{k} {v:.2f}" for k, v in scores.items() if k != "images"))
            meta = {"model": cfg.model, "task": card.task, "num_classes": train_ds.num_classes,
                    "labels": train_ds.labels, "preprocess": pre.to_dict(), "imgsz": imgsz, "dataset": cfg.data,
                    "model_args": cfg.model_args, "augment": aug.to_dict(),
                    "epoch": epoch, "metrics": record, "train_args": dataclasses.asdict(cfg)}
            save_checkpoint(model, out / "last.safetensors", meta)
            if best is None or scores[metric] > best[metric]:
                best = record
                save_checkpoint(model, out / "best.safetensors", meta)
            _write_json(out / "results.json", {"config": dataclasses.asdict(cfg), "history": history, "best": best})
    return {"best": best, "best_path": str(out / "best.safetensors"), "last_path": str(out / "last.safetensors"),
            "history": history, "notes": notes, "imgsz": imgsz}


def _criterion(task: str, num_classes: int, model: torch.nn.Module):
    if task == "classification":
        return torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    if task == "segmentation":
        return _segmentation_loss
    from .yolo_loss import YoloLoss

    return YoloLoss(num_classes, model.reg_max, model.strides)


def _step(task: str, data: dict, idx: torch.Tensor, model, criterion, gen, aug: Augment) -> torch.Tensor:
    x = data["x"][idx].float()
    if task == "classification":
        return criterion(model(classification_batch(x, aug, gen)), data["y"][idx])
    if task == "segmentation":
        x, masks = segmentation_batch(x, data["masks"][idx], aug, gen)
        return criterion(model(x), masks.long())
    boxes = [data["boxes"][i] for i in idx.tolist()]
    classes = [data["classes"][i] for i in idx.tolist()]
    x, labels, gt_boxes, mask = detection_batch(x, boxes, classes, aug, gen)
    loss, _ = criterion(model(x), labels, gt_boxes, mask)
    return loss


def _segmentation_loss(out: dict[str, torch.Tensor], masks: torch.Tensor) -> torch.Tensor:
    """Pixel cross-entropy, 255 ignored; an auxiliary head adds half its loss (torchvision's reference)."""
    loss = torch.nn.functional.cross_entropy(out["out"], masks, ignore_index=255)
    if "aux" in out:
        loss = loss + 0.5 * torch.nn.functional.cross_entropy(out["aux"], masks, ignore_index=255)
    return loss


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    os.replace(tmp, path)
