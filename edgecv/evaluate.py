"""``edgecv eval``: a zoo model, a checkpoint or an exported file scored on a dataset, through
``scoring.score`` -- the same code path export, training and profile use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UsageError
from .resources import check_memory
from .scoring import Progress, score


def evaluate_target(target: str, weights: str | None = None, data: str | None = None, imgsz: int | None = None,
                    limit: int | None = None, batch_size: int = 64,
                    progress: Progress | None = None, facts: Any = None) -> dict[str, Any]:
    """Evaluate a zoo model (default or given weights) or a checkpoint on a dataset's val split.

    The dataset and input size default to what the weights were trained on; ``facts`` (``interop.Facts``)
    replaces the card's preprocessing with the one stated (torchvision weights scored with torchvision's own
    resize and crop). ``progress(done, total)``.
    """
    from .interop import with_facts
    from .models.resolve import load_target
    from .preprocess import Preprocess

    model = load_target(target, weights, require_weights=True)
    meta = model.checkpoint_meta or {}
    data = data or meta.get("dataset")
    if data is None:
        raise UsageError(f"say which data to evaluate {target} on with --data")
    pre = model.card.preprocess
    if imgsz is not None:
        pre = pre.at_size(imgsz)
    sources = None
    if facts:
        stated = with_facts({"model": model.card.name, "task": model.card.task, "num_classes": model.card.num_classes,
                             "preprocess": pre.to_dict()}, facts)
        pre, sources = Preprocess.from_dict(stated["preprocess"]), stated["sources"]
    check_memory(f"eval at {pre.input_size}px in batches of {batch_size}", batch_size, pre.input_size,
                 hint="use a smaller --imgsz or --batch")
    scores = score(model, data, limit, preprocess=pre, batch_size=batch_size, progress=progress)
    return {"model": model.card.name, "data": str(data), "imgsz": pre.input_size, "task": model.card.task,
            "metrics": scores, "preprocess": pre.to_dict(), **({"sources": sources} if sources else {})}


def evaluate_artifact(path: str, runtime: str | None = None, provider: str | None = None, device: str | None = None,
                      threads: int | None = None, data: str | None = None, limit: int | None = None,
                      batch_size: int = 64, progress: Progress | None = None, facts: Any = None) -> dict[str, Any]:
    """Evaluate a ``.onnx``/``.tflite`` (edgecv's or another tool's) on a runtime and device, preprocessing from
    its metadata and whatever ``facts`` state (``interop.describe``).

    The dataset defaults to the one recorded at export (the model's training data)."""
    from .interop import unscorable
    from .preprocess import Preprocess
    from .runtimes import load

    with load(path, runtime, provider, device, threads, facts) as session:
        meta = session.metadata or {}
        why = unscorable(meta, Path(path).name)
        if why:
            raise UsageError(why)
        data = data or meta.get("source", {}).get("data") or (meta.get("calibration") or {}).get("data")
        if data is None:
            raise UsageError(f"say which data to evaluate {path} on with --data")
        pre = Preprocess.from_dict(meta["preprocess"])
        scores = score(session, data, limit, batch_size=batch_size, progress=progress)
        where = {k: v for k, v in session.describe().items() if k in ("runtime", "provider", "device", "emulated")}
    return {"model": meta.get("model"), "artifact": str(path), "format": meta.get("format"),
            "precision": meta.get("precision"), **where, "data": str(data), "imgsz": pre.input_size,
            "task": meta["task"], "metrics": scores, "preprocess": pre.to_dict(),
            **({"sources": meta["sources"]} if meta.get("sources") else {})}
