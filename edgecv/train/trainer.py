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
from .augment import Augment
from .data import cache_items, load_tensors
from .objectives import OBJECTIVES


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
    if cfg.head_init not in HEAD_INITS:
        raise UsageError(f"unknown --head-init {cfg.head_init!r} (choose from {', '.join(HEAD_INITS)})")
    model = create_model(cfg.model, num_classes=train_ds.num_classes, **cfg.model_args)
    objective = OBJECTIVES[card.task](model, train_ds.num_classes)
    if cfg.data in RENDERED:
        pre = dataclasses.replace(pre, mode=objective.rendered_mode)
    notes = []
    start = cfg.weights or (None if cfg.from_scratch else objective.default_start(cfg.model))
    if start:
        skipped = _fine_tune_from(model, start, card.num_classes_key)
        notes.append(f"fine-tuning from {start}" + (f" (new head: {len(skipped)} tensors)" if skipped else ""))
    else:
        notes += objective.init_fresh(card, cfg, imgsz)
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
                loss = objective.loss(train_t["x"][idx].float(), train_t, idx, aug, gen)
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


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    os.replace(tmp, path)
