"""``edgecv track``: a detector artifact on any runtime and device, its detections linked into tracks.

Frames go through the artifact exactly as ``edgecv predict`` sends images (the device script's ``Pipeline``),
and each frame's boxes through ``portable.tracker.Tracker`` (Kalman filter + Hungarian matching). The tracks
are written in the MOT challenge's text format, one file per sequence: ``frame,id,left,top,width,height,score,
-1,-1,-1`` (frames from 1). With ground truth (the built-in ``shapes-track`` sequences, or ``--gt`` in the same
format) it scores MOTA and IDF1 with TrackEval. It times the detector (preprocess, inference, NMS) and the
tracker apart, so the tracker's share of each frame is known.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import write_atomic
from .errors import EdgecvError, UsageError
from .portable.postprocess import Pipeline
from .portable.tracker import Tracker, mot_lines, timing_summary, update_from
from .runtimes import load

BUILTIN = "shapes-track"


def track(target: str, frames: list[str] | None = None, *, data: str | None = None, sequences: int | None = None,
          gt: str | None = None, runtime: str | None = None, provider: str | None = None, device: str | None = None,
          threads: int | None = None, out: str | Path = "track", iou_threshold: float = 0.1, max_age: int = 10,
          min_hits: int = 3, per_class: bool = False, embedder: str | None = None,
          log: Callable[[str], None] = print, facts: Any = None) -> dict[str, Any]:
    """Track through ``frames`` (image files or folders, in order) or the built-in ``data`` sequences; returns the
    report (also ``out/track.json``): the tracks' files, the scores when there is ground truth, and the timing.
    ``embedder`` is a classifier artifact whose class probabilities for each box's crop are its appearance."""
    if bool(frames) == bool(data):
        raise UsageError("give FRAMES (image files or a folder, in order) or --data shapes-track, not both or neither")
    if data and data != BUILTIN:
        raise UsageError(f"--data {data}: the built-in tracking sequences are {BUILTIN}; for your own frames pass "
                         "them as FRAMES, with --gt for MOT-format ground truth")
    if gt and not frames:
        raise UsageError("--gt goes with FRAMES (the built-in sequences carry their own ground truth)")
    out = Path(out)
    truth = _read_gt(gt)  # a bad ground-truth file is said before any frame is run
    with load(target, runtime, provider, device, threads, facts) as session, _embedder(embedder, threads) as embed:
        meta = session.metadata or {}
        from .interop import unscorable

        why = unscorable(meta, Path(str(target)).name)
        if why:
            raise UsageError(why)
        if meta.get("task") != "detection":
            raise UsageError(f"{Path(str(target)).name} is not a detector (task {meta.get('task')!r}): "
                             "track needs boxes")
        pipe = Pipeline(meta)
        runs = _builtin(meta, sequences) if data else [("frames", _files(frames or [], log, truth), truth)]
        report_seqs, scored, timing = run_sequences(
            session, pipe, runs, lambda: Tracker(iou_threshold, max_age, min_hits, per_class), out, log, embed)
        report = {"model": meta.get("model"), "precision": meta.get("precision"), "target": str(target),
                  **session.describe(), "tracker": {"iou_threshold": iou_threshold, "max_age": max_age,
                                                    "min_hits": min_hits, "per_class": per_class,
                                                    "embedder": embedder},
                  "sequences": report_seqs, "timing": timing}
    if scored:
        from .metrics.tracking import tracking_scores

        report["scores"] = tracking_scores(scored)
    write_atomic(out / "track.json", json.dumps(report, indent=1).encode())
    return report


def run_sequences(session, pipe: Pipeline, runs: Iterable[tuple[str, Iterable[np.ndarray | None], dict | None]],
                  new_tracker: Callable[[], Tracker], out: Path | None, log: Callable[[str], None],
                  embed: Callable | None = None) -> tuple[list[dict], list[list[dict]], dict[str, Any]]:
    """Each ``(name, frames, ground truth or None)`` through the detector and a tracker of its own
    (``new_tracker()``); the MOT file of each under ``out`` (if given). ``embed(image, boxes)`` gives each box an
    appearance (its time counts as the tracker's). Returns per-sequence entries, the scored frames, the timing."""
    entries, scored, det_ms, trk_ms = [], [], [], []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for name, images, truth in runs:
        trk = new_tracker()
        lines, frames, count, readable = [], [], 0, 0
        for k, image in enumerate(images, 1):
            count, readable = k, readable + (image is not None)
            start = time.perf_counter()
            if image is None:  # an unreadable frame (said when it was read): a frame without detections
                det = []
            else:
                x, geo = pipe.prepare(image)
                det = pipe.predictions(session.run(x), geo, image.shape[:2], top=0)
            mid = time.perf_counter()
            appearance = embed(image, np.array([d["box"] for d in det])) if embed and image is not None else None
            tracks = update_from(trk, det, appearance)
            trk_ms.append(1e3 * (time.perf_counter() - mid))
            det_ms.append(1e3 * (mid - start))
            lines += mot_lines(k, tracks)
            if truth is not None:
                from .metrics.tracking import frame_data

                ids, gt_boxes = truth.get(k, (np.zeros(0, int), np.zeros((0, 4))))
                frames.append(frame_data(ids, gt_boxes, tracks[:, 0], tracks[:, 1:5]))
        if count and not readable:
            raise EdgecvError(f"{name}: none of its {count} frame(s) could be read")
        entry: dict[str, Any] = {"name": name, "frames": count, "tracks": len({ln.split(",")[1] for ln in lines})}
        if out is not None:
            path = out / f"{name}.txt"
            write_atomic(path, ("\n".join(lines) + "\n" if lines else "").encode())
            entry["file"] = str(path)
        if truth is not None:
            from .metrics.tracking import tracking_scores

            entry.update(tracking_scores([frames]))
            scored.append(frames)
        entries.append(entry)
        log(f"{name}: {entry['frames']} frames, {entry['tracks']} tracks"
            + (f", MOTA {entry['mota']:.1f}, IDF1 {entry['idf1']:.1f}" if truth is not None else ""))
    return entries, scored, timing_summary(det_ms, trk_ms)


class _Appearance:
    """A classifier artifact as an appearance model: each box's crop (10% margin) -> its class probabilities."""

    def __init__(self, path: str, threads: int | None) -> None:
        self.session = load(path, threads=threads)
        meta = self.session.metadata or {}
        if meta.get("task") != "classification":
            self.session.close()
            raise UsageError(f"--embedder {Path(path).name} is not an edgecv classifier (task {meta.get('task')!r})")
        self.pipe = Pipeline(meta)
        self.logits = self.pipe.roles.get("logits")

    def __call__(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray | None:
        if not len(boxes):
            return None
        h, w = image.shape[:2]
        out = []
        for x1, y1, x2, y2 in boxes:
            mx, my = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
            crop = image[int(max(y1 - my, 0)):int(min(y2 + my, h)) + 1, int(max(x1 - mx, 0)):int(min(x2 + mx, w)) + 1]
            x, _ = self.pipe.prepare(crop if crop.size else image)
            outputs = self.session.run(x)
            logits = np.asarray(outputs[self.logits] if self.logits in outputs else next(iter(outputs.values())))[0]
            p = np.exp(logits - logits.max())
            out.append(p / p.sum())
        return np.array(out).reshape(len(boxes), -1)

    def __enter__(self) -> _Appearance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()


def _embedder(path: str | None, threads: int | None):
    import contextlib

    return _Appearance(path, threads) if path else contextlib.nullcontext()


def builtin_summary(session, sequences: int) -> dict[str, Any]:
    """``edgecv profile --track N``: the open detector ``session`` on the first N ``shapes-track`` sequences with
    the default tracker: MOTA, IDF1, ID switches, end-to-end frames per second and the tracker's share."""
    from .metrics.tracking import tracking_scores

    meta = session.metadata
    _, scored, timing = run_sequences(session, Pipeline(meta), _builtin(meta, sequences), Tracker, None,
                                      lambda m: None)
    s = tracking_scores(scored)
    return {"data": BUILTIN, "sequences": len(scored), "frames": timing["frames"], "mota": s["mota"],
            "idf1": s["idf1"], "id_switches": s["id_switches"], "fps": timing["fps"], "tracker_ms": timing["tracker_ms"],
            "tracker_share": timing["tracker_share"]}


def _builtin(meta: dict[str, Any], count: int | None) -> Iterable[tuple[str, list[np.ndarray], dict]]:
    from .data.shapes_track import ShapesTrack

    size = int((meta.get("preprocess") or {}).get("input_size") or 128)
    data = ShapesTrack("val", size=size)
    for index in range(min(count or len(data), len(data))):
        seq = data[index]
        truth = {k: (f.ids, f.boxes) for k, f in enumerate(seq, 1)}
        yield f"{BUILTIN}-{index:02d}", [f.image for f in seq], truth


def _files(frames: list[str], log: Callable[[str], None], truth: dict | None = None) -> Iterable[np.ndarray | None]:
    """The frames, read one at a time as they are tracked (a long video's frames never all sit in memory); an
    unreadable one is said and comes as None, so the frames after it keep their numbers. Ground truth for
    frames beyond the last one is refused before any work (its boxes would silently not count)."""
    from .data.base import read_image
    from .predict import image_paths

    paths = image_paths(frames)  # missing files and empty folders are said before any work
    if truth and max(truth) > len(paths):
        raise UsageError(f"--gt has boxes up to frame {max(truth)}, but there are {len(paths)} frames: pass every "
                         "frame the ground truth covers (frames are numbered from 1 in natural name order)")

    def read() -> Iterable[np.ndarray | None]:
        for path in paths:
            try:
                yield read_image(path)
            except EdgecvError as exc:
                log(f"warning: frame {path} is unreadable ({exc}); tracked as a frame without detections")
                yield None

    return read()


GT_MAX_BYTES = 512 * 2**20  # a MOT ground-truth file of a long video is tens of MB; /dev/zero is not one
_ID_MAX = 2**31 - 1


def _whole(text: str, what: str, least: int) -> int:
    value = float(text)
    if not np.isfinite(value) or value != int(value) or not least <= value <= _ID_MAX:
        raise ValueError(f"{what} {text.strip()!r} is not a whole number from {least} to {_ID_MAX}")
    return int(value)


def _read_gt(path: str | None) -> dict[int, tuple[np.ndarray, np.ndarray]] | None:
    """MOT-format ground truth: ``frame,id,left,top,width,height[,...]`` per line (frames from 1). Checked as
    TrackEval's own loader would: whole frame numbers and ids, finite boxes, one box per id and frame, and at
    least one box; a regular file of bounded size only."""
    if path is None:
        return None
    from .resources import read_limited

    text = read_limited(path, "--gt", GT_MAX_BYTES)
    truth: dict[int, tuple[list[int], list[list[float]]]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) < 6:
            raise UsageError(f"--gt {path}, line {n}: expected frame,id,left,top,width,height")
        try:
            frame, ident = _whole(fields[0], "frame", 1), _whole(fields[1], "id", 0)
            left, top, width, height = (float(v) for v in fields[2:6])
        except ValueError as exc:
            why = str(exc) if "whole number" in str(exc) else "expected frame,id,left,top,width,height as numbers"
            raise UsageError(f"--gt {path}, line {n}: {why}") from None
        if not (np.isfinite([left, top, width, height]).all() and width >= 0 and height >= 0
                and max(abs(left), abs(top), width, height) < 1e7):
            raise UsageError(f"--gt {path}, line {n}: a box needs finite coordinates (under 1e7) and a size >= 0")
        ids, boxes = truth.setdefault(frame, ([], []))
        if ident in ids:
            raise UsageError(f"--gt {path}, line {n}: id {ident} appears twice in frame {frame}")
        ids.append(ident)
        boxes.append([left, top, left + width, top + height])
    if not truth:
        raise UsageError(f"--gt {path} has no boxes: nothing to score against")
    return {k: (np.array(i, int), np.array(b, float).reshape(-1, 4)) for k, (i, b) in truth.items()}


__all__ = ["builtin_summary", "run_sequences", "track"]
