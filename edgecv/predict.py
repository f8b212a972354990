"""``edgecv predict``: images in, top classes, boxes or class maps out, with any runtime on any device.

The image -> input -> prediction steps are the on-device script's own ``Pipeline`` driven by the model's
metadata, so what this prints is what the device script prints on the board.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .artifact import writable
from .data.base import IMAGE_SUFFIXES, read_image
from .errors import EdgecvError, UsageError
from .portable.image import natural_key
from .portable.postprocess import Pipeline
from .portable.segmentation import class_shares, mask_names, write_mask_png
from .runtimes import load


def image_paths(args: list[str]) -> list[Path]:
    paths: list[Path] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            found = sorted((q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file()), key=natural_key)
            if not found:
                raise UsageError(f"no images in {arg}")
            paths += found
        elif p.is_file():
            paths.append(p)
        else:
            raise UsageError(f"no such image or folder: {arg}")
    return paths


def predict(target: str, images: list[str], runtime: str | None = None, provider: str | None = None,
            device: str | None = None, threads: int | None = None, top: int = 5,
            on_result: Callable[[dict[str, Any]], None] | None = None, masks: str | Path = "runs/predict",
            facts: Any = None, **options: Any) -> dict[str, Any]:
    """Run ``target`` (an artifact, or a zoo name/checkpoint on torch) on each image.

    Each result is ``{"image", "predictions"}`` or ``{"image", "error"}`` for an unreadable image; the
    run goes on past such images. A segmentation model also writes each image's class map as a VOC palette
    PNG into ``masks`` (``"mask"`` in the result). ``on_result`` sees each result as soon as it is ready."""
    paths = image_paths(images)
    from .interop import unscorable

    with load(target, runtime, provider, device, threads, facts, **options) as session:
        why = unscorable(session.metadata, Path(str(target)).name)
        if why:
            raise UsageError(f"{why}; edgecv profile can still time it")
        pipe = Pipeline(session.metadata)
        results, infer_ms = [], []
        mask_dir = Path(masks) if session.metadata["task"] == "segmentation" else None
        if mask_dir is not None:
            writable(mask_dir)
        for result, ms in _run(session, pipe, paths, top, mask_dir):
            results.append(result)
            if ms is not None:
                infer_ms.append(ms)
            if on_result:
                on_result(result)
        steady = sorted(infer_ms[1:]) or infer_ms
        timing = {"init_ms": round(session.init_ms, 3), "first_ms": round(infer_ms[0], 3) if infer_ms else None,
                  "p50_ms": round(steady[len(steady) // 2], 3) if steady else None, "images": len(infer_ms),
                  "measured_on": "device" if session.timed_on_device else "host"}
        return {"model": session.metadata.get("model"), "task": session.metadata["task"],
                "precision": session.metadata.get("precision"), **session.describe(), "results": results,
                "timing": timing}


def _run(session, pipe: Pipeline, paths: list[Path], top: int, mask_dir: Path | None
         ) -> Iterator[tuple[dict, float | None]]:
    for path, mask_name in zip(paths, mask_names(paths)):
        try:
            image = read_image(path)
        except EdgecvError as exc:
            yield {"image": str(path), "error": str(exc)}, None
            continue
        x, geo = pipe.prepare(image)
        outputs = session.run(x)
        ms = session.last_infer_ms  # the core call only (timed by the device itself on a remote one)
        if mask_dir is None:
            yield {"image": str(path), "predictions": pipe.predictions(outputs, geo, image.shape[:2], top)}, ms
            continue
        mask = pipe.segment(outputs, geo, image.shape[:2])
        written = write_mask_png(mask_dir / mask_name, mask)
        yield {"image": str(path), "predictions": class_shares(mask, pipe.labels, top), "mask": str(written)}, ms
