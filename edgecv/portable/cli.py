"""The device command line: ``predict``, ``track``, ``info``, ``bench`` and ``serve`` on a model file."""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

from .engines import open_model, quantization_from_metadata, run_float
from .environment import environment
from .errors import DeviceError
from .image import list_images, read_image
from .metadata import load_metadata, match_outputs
from .postprocess import Pipeline
from .protocol import serve
from .segmentation import mask_names, write_mask_png
from .shapes import parse_hw, parse_input_shapes, synthetic_feeds
from .timing import time_calls
from .tracker import Tracker, mot_lines, timing_summary, update_from


def predict(path: Path, images: list[str], runtime: str | None, threads: int | None, top: int,
            masks: Path | None = None) -> dict:
    metadata = load_metadata(path)
    if metadata is None:
        raise DeviceError(f"{path.name} has no edgecv metadata: on the host, edgecv annotate {path.name} (with "
                          "--preprocess/--labels for a file from another tool) writes it in")
    t0 = time.perf_counter()
    model = open_model(path, runtime, threads)
    init_ms = (time.perf_counter() - t0) * 1e3
    metadata = match_outputs(metadata, [o["name"] for o in model.outputs])
    quantization_from_metadata(model, metadata)
    pipe, results, infer_ms = Pipeline(metadata), [], []
    paths = list_images(images)
    for image_path, mask_name in zip(paths, mask_names(paths)):
        try:
            image = read_image(image_path)
        except DeviceError as exc:  # as the host does: said, skipped, the batch goes on
            print(f"edgecv_device: warning: skipping {image_path}: {exc}", file=sys.stderr)
            results.append({"image": str(image_path), "error": str(exc), "predictions": []})
            continue
        x, geo = pipe.prepare(image)
        t0 = time.perf_counter()
        outs = run_float(model, x)
        infer_ms.append((time.perf_counter() - t0) * 1e3)
        results.append({"image": str(image_path), "predictions": pipe.predictions(outs, geo, image.shape[:2], top)})
        if masks is not None and metadata["task"] == "segmentation":  # the class map as a VOC palette PNG
            results[-1]["mask"] = str(write_mask_png(masks / mask_name, pipe.segment(outs, geo, image.shape[:2])))
    if not infer_ms:
        raise DeviceError(f"none of the {len(paths)} image(s) could be read")
    steady = sorted(infer_ms[1:]) or infer_ms
    timing = {"init_ms": round(init_ms, 3), "first_ms": round(infer_ms[0], 3),
              "p50_ms": round(steady[len(steady) // 2], 3), "images": len(infer_ms)}
    return {"model": metadata.get("model"), "task": metadata["task"], "precision": metadata.get("precision"),
            "results": results, "timing": timing, "environment": environment(model)}


def track(path: Path, frames: list[str], runtime: str | None, threads: int | None, iou: float, max_age: int,
          min_hits: int) -> tuple[list[str], dict]:
    """A detector's boxes on ``frames`` (in order) linked into tracks: MOT-format lines and the timing."""
    metadata = load_metadata(path)
    if metadata is None or metadata.get("task") != "detection":
        raise DeviceError(f"{path.name} is not an edgecv detector: track needs boxes")
    model = open_model(path, runtime, threads)
    metadata = match_outputs(metadata, [o["name"] for o in model.outputs])
    quantization_from_metadata(model, metadata)
    pipe, tracker, lines, det_ms, trk_ms = Pipeline(metadata), Tracker(iou, max_age, min_hits), [], [], []
    read = 0
    for k, image_path in enumerate(list_images(frames), 1):
        try:
            image = read_image(image_path)
        except DeviceError as exc:  # as the host does: a frame without detections, so the later ones keep numbers
            print(f"edgecv_device: warning: frame {image_path} is unreadable ({exc}); tracked as a frame without "
                  "detections", file=sys.stderr)
            lines += mot_lines(k, update_from(tracker, []))
            continue
        read += 1
        t0 = time.perf_counter()
        x, geo = pipe.prepare(image)
        det = pipe.predictions(run_float(model, x), geo, image.shape[:2])
        t1 = time.perf_counter()
        tracks = update_from(tracker, det)
        trk_ms.append((time.perf_counter() - t1) * 1e3)
        det_ms.append((t1 - t0) * 1e3)
        lines += mot_lines(k, tracks)
    if not read:
        raise DeviceError("none of the frames could be read")
    return lines, {**timing_summary(det_ms, trk_ms), "environment": environment(model)}


def print_predictions(report: dict) -> None:
    for r in report["results"]:
        print(r["image"])
        if "error" in r:
            print(f"  skipped: {r['error']}")
            continue
        for p in r["predictions"] or [{"label": "(nothing detected)", "score": math.nan}]:
            box = " [" + ", ".join(f"{v:.1f}" for v in p["box"]) + "]" if "box" in p else ""
            score = f"{100 * p['score']:5.1f}%" if "mask" in r else f"{p['score']:.3f}"  # a share of the pixels, as the host
            print(f"  {score}  {p['label']}{box}")
    t, env = report["timing"], report["environment"]
    print(f"{t['images']} image(s) with {env['runtime']} {env['runtime_version']} on {env['machine']}: "
          f"init {t['init_ms']:.1f} ms, first {t['first_ms']:.2f} ms, median {t['p50_ms']:.2f} ms")


def _number(kind, low: float, high: float):
    """An argparse type: a finite ``kind`` (int or float) from ``low`` to ``high``, else a usage error."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text!r} is not between {low} and {high}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgecv_device", description="Run an edgecv model file with only numpy "
                                     "and a runtime: predict on images, show its I/O and metadata, time it, or "
                                     "serve framed requests on stdin (how edgecv drives a board).")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("predict", "track", "info", "bench", "serve"):
        p = sub.add_parser(name)
        p.add_argument("model", type=Path)
        p.add_argument("--runtime", choices=["onnxruntime", "litert", "openvino"])
        p.add_argument("--threads", type=_number(int, 1, 10**6))  # more than the cores: capped
        if name == "predict":
            p.add_argument("images", nargs="+")
            p.add_argument("--top", type=_number(int, 1, 100_000), default=5)
            p.add_argument("--masks", type=Path, help="Segmentation: write each class map here as a palette PNG.")
        if name == "track":
            p.add_argument("frames", nargs="+", help="Frame images or folders, in order.")
            p.add_argument("--iou", type=_number(float, 0, 1), default=0.1)
            p.add_argument("--max-age", type=_number(int, 0, 100_000), default=10)
            p.add_argument("--min-hits", type=_number(int, 1, 100_000), default=3)
        if name == "bench":
            p.add_argument("--warmup", type=_number(int, 0, 100_000), default=5)
            p.add_argument("--iters", type=_number(int, 1, 1_000_000), default=50)
            p.add_argument("--imgsz", help="Height/width of dynamic image inputs: N or HxW (default: 640).")
            p.add_argument("--batch", type=_number(int, 1, 4096), default=1, help="A dynamic batch dim (default 1).")
            p.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x640x640")
        if name != "serve":
            p.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        if not args.model.is_file():
            raise DeviceError(f"model file not found: {args.model}")
        if args.command == "serve":
            return serve(args.model, args.runtime, args.threads)
        if args.command == "predict":
            report = predict(args.model, args.images, args.runtime, args.threads, args.top, args.masks)
            print(json.dumps(report, indent=1)) if args.json else print_predictions(report)
        elif args.command == "track":  # MOT-format lines on stdout, the timing on stderr
            lines, timing = track(args.model, args.frames, args.runtime, args.threads, args.iou, args.max_age,
                                  args.min_hits)
            if args.json or lines:
                print(json.dumps({"tracks": lines, "timing": timing}, indent=1) if args.json else "\n".join(lines))
            if not args.json:
                print(f"edgecv_device: {timing['frames']} frames at {timing['fps']} fps, tracker {timing['tracker_ms']} "
                      "ms per frame", file=sys.stderr)
        elif args.command == "info":
            model = open_model(args.model, args.runtime, args.threads)
            quantization_from_metadata(model, load_metadata(args.model))
            info = {"inputs": model.inputs, "outputs": model.outputs, "metadata": load_metadata(args.model),
                    "environment": environment(model)}
            print(json.dumps(info, indent=1))
        else:
            model = open_model(args.model, args.runtime, args.threads)
            imgsz = parse_hw(args.imgsz) if args.imgsz else None
            feeds, notes = synthetic_feeds(model, imgsz, args.batch, parse_input_shapes(args.input_shape))
            for note in notes:
                print(f"edgecv_device: {note}", file=sys.stderr)
            times = sorted(time_calls(lambda: model.infer(feeds), args.warmup, args.iters))
            report = {"latency_ms": {"p50": times[len(times) // 2], "min": times[0], "mean": sum(times) / len(times)},
                      "iters": len(times), "environment": environment(model)}
            print(json.dumps(report, indent=1) if args.json else
                  f"p50 {report['latency_ms']['p50']:.3f} ms over {len(times)} runs ({model.runtime} "
                  f"{model.version}, {platform.machine()})")
    except DeviceError as exc:
        print(f"edgecv_device: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
