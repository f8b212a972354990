"""``edgecv eval``: a zoo model, a checkpoint or an exported file scored on a dataset, through
``scoring.score`` -- the same code path export, training and profile use."""

from __future__ import annotations

from typing import Any

from .errors import UsageError
from .resources import check_memory
from .scoring import Progress, score


def evaluate_target(target: str, weights: str | None = None, data: str | None = None, imgsz: int | None = None,
                    limit: int | None = None, batch_size: int = 64,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate a zoo model (default or given weights) or a checkpoint on a dataset's val split.

    The dataset and input size default to what the weights were trained on. ``progress(done, total)``.
    """
    from .models.resolve import load_target

    model = load_target(target, weights, require_weights=True)
    meta = model.checkpoint_meta or {}
    data = data or meta.get("dataset")
    if data is None:
        raise UsageError(f"say which data to evaluate {target} on with --data")
    pre = model.card.preprocess
    if imgsz is not None:
        pre = pre.at_size(imgsz)
    check_memory(f"eval at {pre.input_size}px in batches of {batch_size}", batch_size, pre.input_size,
                 hint="use a smaller --imgsz or --batch")
    scores = score(model, data, limit, preprocess=pre, batch_size=batch_size, progress=progress)
    return {"model": model.card.name, "data": str(data), "imgsz": pre.input_size, "task": model.card.task,
            "metrics": scores, "preprocess": pre.to_dict()}


def evaluate_artifact(path: str, runtime: str | None = None, provider: str | None = None, device: str | None = None,
                      threads: int | None = None, data: str | None = None, limit: int | None = None,
                      batch_size: int = 64, progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate an exported ``.onnx``/``.tflite`` on a runtime and device, preprocessing from its metadata.

    The dataset defaults to the one recorded at export (the model's training data)."""
    from .preprocess import Preprocess
    from .runtimes import load

    with load(path, runtime, provider, device, threads) as session:
        meta = session.metadata
        if not meta:
            raise UsageError(f"{path} has no edgecv metadata, so its preprocessing and labels are unknown")
        data = data or meta.get("source", {}).get("data") or (meta.get("calibration") or {}).get("data")
        if data is None:
            raise UsageError(f"say which data to evaluate {path} on with --data")
        pre = Preprocess.from_dict(meta["preprocess"])
        scores = score(session, data, limit, batch_size=batch_size, progress=progress)
        where = {k: v for k, v in session.describe().items() if k in ("runtime", "provider", "device", "emulated")}
    return {"model": meta.get("model"), "artifact": str(path), "format": meta.get("format"),
            "precision": meta.get("precision"), **where, "data": str(data), "imgsz": pre.input_size,
            "task": meta["task"], "metrics": scores, "preprocess": pre.to_dict()}
