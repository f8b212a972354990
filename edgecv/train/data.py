"""Getting a dataset into memory as network-ready tensors (the augmentations are in ``augment.py``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from ..data.base import Dataset, InMemory
from ..errors import DataError
from ..portable.preprocess import preprocess
from ..preprocess import Preprocess

MAX_BYTES = 6 * 1024 ** 3  # in-memory training set limit (fp16 tensors)


def _read(args: tuple[Dataset, int, int]) -> list[tuple]:
    ds, start, stop = args
    return [ds[i] for i in range(start, stop)]


def _chunked(ds: Dataset, worker: Callable, extra: tuple, workers: int, on_done: Callable[[int], None]) -> list:
    """Run ``worker((ds, *extra, start, stop))`` over chunks of ``ds``, in processes when that pays."""
    chunk = 128
    jobs = [(ds, *extra, s, min(s + chunk, len(ds))) for s in range(0, len(ds), chunk)]
    items: list = []
    workers = max(1, min(workers, os.cpu_count() or 1))
    with contextlib.ExitStack() as stack:
        mapper = map
        if workers > 1 and len(jobs) > 1:
            mapper = stack.enter_context(ProcessPoolExecutor(workers)).map
        for part in mapper(worker, jobs):
            items += part
            on_done(len(part))
    return items


def cache_items(ds: Dataset, workers: int, on_done: Callable[[int], None]) -> InMemory:
    """Read or render every item once (validation runs every epoch)."""
    return InMemory(ds, _chunked(ds, _read, (), workers, on_done))


def _prepare(args: tuple[Dataset, Preprocess, int, int]) -> list[tuple]:
    from .objectives import OBJECTIVES

    ds, pre, start, stop = args
    target = OBJECTIVES[ds.task].target
    out = []
    for i in range(start, stop):
        item = ds[i]
        x, geo = preprocess(item[0], pre)
        out.append((x.astype(np.float16), target(item, geo, x.shape[-2:])))
    return out


def load_tensors(ds: Dataset, pre: Preprocess, workers: int, on_done: Callable[[int], None]) -> dict:
    """Preprocess every item once: ``x [N,C,H,W]`` fp16 and the task's targets (``objectives.py``): ``y [N]``;
    per-image ``boxes`` (input pixels) and ``classes``; or ``masks [N,H,W]`` uint8."""
    need = len(ds) * pre.channels * pre.input_size ** 2 * 2
    if need > MAX_BYTES:
        raise DataError(f"{ds.name} at {pre.input_size}px needs {need / 1e9:.1f} GB in memory; "
                        "train at a smaller --imgsz or on a --limit subset")
    from .objectives import OBJECTIVES

    items = _chunked(ds, _prepare, (pre,), workers, on_done)
    x = torch.from_numpy(np.stack([it[0] for it in items]))
    return {"x": x, **OBJECTIVES[ds.task].stack([it[1] for it in items])}
