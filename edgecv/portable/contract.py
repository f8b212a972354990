"""The metadata contract checked once, where it is read (the device script's ``load_metadata`` and the host's
``artifact.read_metadata`` both call ``check_metadata``). A model file is data from anywhere: every field that
is present must be what it claims to be, so no later step (preprocessing, NMS, a report) meets a NaN ``std``, a
30000-pixel ``input_size`` or a ``model`` that is a number. What is wrong is one line naming the file and the field.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import DeviceError
from .heads import HEADS

TASK_NAMES = ("classification", "detection", "segmentation")
MODES = ("center_crop", "letterbox", "resize")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
COLOURS = ("RGB", "BGR", "GRAY")
LAYOUTS = ("NCHW", "NHWC")
MAX_INPUT_SIZE = 8192  # pixels a side: larger needs gigabytes per image before the network runs
MAX_LABELS = 100_000
MAX_TEXT = 1000  # characters in a label, a model or an output name
MAX_METADATA_BYTES = 16 * 2**20


class ContractError(DeviceError):
    """Metadata that breaks the contract."""


def parse_metadata(text: str | None, where: str) -> dict | None:
    """The metadata JSON text of a file, parsed and checked (None when the file carries none)."""
    if not text:
        return None
    if len(text) > MAX_METADATA_BYTES:
        raise ContractError(f"{where}: its edgecv metadata is {len(text) / 2**20:.0f} MiB, more than any edgecv writes")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ContractError(f"{where}: its edgecv metadata is not valid JSON ({str(exc)[:120]})") from None
    return check_metadata(meta, where)


def check_metadata(meta: Any, where: str) -> dict:
    if not isinstance(meta, dict):
        raise ContractError(f"{where}: its edgecv metadata is not a JSON object")

    def bad(field: str, want: str) -> ContractError:
        value = repr(_get(meta, field))[:60]
        return ContractError(f"{where}: metadata {field} must be {want}, not {value}")

    for key in ("model", "precision", "format", "edgecv_version"):
        if key in meta and meta[key] is not None and not _text(meta[key]):
            raise bad(key, f"a string of at most {MAX_TEXT} characters")
    if "task" in meta and meta["task"] not in TASK_NAMES:
        raise bad("task", " or ".join(TASK_NAMES))
    if meta.get("num_classes") is not None and not _whole(meta["num_classes"], 1, MAX_LABELS):
        raise bad("num_classes", f"a whole number from 1 to {MAX_LABELS}")
    labels = meta.get("labels")
    if labels is not None and not (isinstance(labels, list) and len(labels) <= MAX_LABELS
                                   and all(_text(x) for x in labels)):
        raise bad("labels", f"a list of at most {MAX_LABELS} strings")
    for key in ("inputs", "outputs"):
        items = meta.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(o, dict) and _text(o.get("name")) for o in items):
            raise bad(key, "a list of objects with a name")
        for o in items:
            if "role" in o and not _text(o["role"]):
                raise ContractError(f"{where}: metadata {key} role must be a string, not {o['role']!r}"[:200])
    if meta.get("head") is not None:
        heads = HEADS.get(meta.get("task"), ())
        if meta["head"] not in heads:
            names = heads or sorted(set().union(*HEADS.values()))
            raise bad("head", f"a {meta.get('task') or 'known'} head: {' or '.join(names)}")
    sources = meta.get("sources")
    if sources is not None and not (isinstance(sources, dict) and all(_text(k) and _text(v) for k, v in sources.items())):
        raise bad("sources", "an object of strings")
    if meta.get("preprocess") is not None:
        _check_preprocess(meta["preprocess"], bad)
    nms = (meta.get("detection") or {}).get("nms") if isinstance(meta.get("detection"), dict) else None
    if meta.get("detection") is not None and not isinstance(meta["detection"], dict):
        raise bad("detection", "an object")
    if isinstance(meta.get("detection"), dict) and not isinstance(meta["detection"].get("normalized", False), bool):
        raise bad("detection.normalized", "true or false")
    if nms is not None:
        if not isinstance(nms, dict):
            raise bad("detection.nms", "an object")
        for key in ("conf_thres", "iou_thres"):
            if key in nms and not _real(nms[key], 0.0, 1.0):
                raise bad(f"detection.nms.{key}", "a number from 0 to 1")
        if "max_det" in nms and not _whole(nms["max_det"], 1, 100_000):
            raise bad("detection.nms.max_det", "a whole number from 1 to 100000")
        if "class_agnostic" in nms and not isinstance(nms["class_agnostic"], bool):
            raise bad("detection.nms.class_agnostic", "true or false")
    return meta


PREPROCESS_FIELDS = ("input_size", "mode", "resize_size", "interpolation", "mean", "std", "colour", "layout",
                     "pad_value")


def _check_preprocess(pre: Any, bad) -> None:
    if not isinstance(pre, dict):
        raise bad("preprocess", "an object")
    unknown = sorted(set(pre) - set(PREPROCESS_FIELDS))
    if unknown:
        raise bad("preprocess", f"made of {', '.join(PREPROCESS_FIELDS)} (unknown: {', '.join(map(str, unknown))})")
    if not _whole(pre.get("input_size"), 1, MAX_INPUT_SIZE):
        raise bad("preprocess.input_size", f"a whole number of pixels from 1 to {MAX_INPUT_SIZE}")
    if pre.get("resize_size") is not None and not _whole(pre["resize_size"], 1, MAX_INPUT_SIZE):
        raise bad("preprocess.resize_size", f"null or a whole number from 1 to {MAX_INPUT_SIZE}")
    for key, allowed in (("mode", MODES), ("interpolation", INTERPOLATIONS), ("colour", COLOURS), ("layout", LAYOUTS)):
        if key in pre and pre[key] not in allowed:
            raise bad(f"preprocess.{key}", " or ".join(allowed))
    channels = 1 if pre.get("colour") == "GRAY" else 3
    for key, low in (("mean", -math.inf), ("std", 0.0)):
        values = pre.get(key)
        if values is None:
            continue
        if not (isinstance(values, list) and len(values) == channels and all(_real(v, low, math.inf) for v in values)
                and (key == "mean" or all(v > 0 for v in values))):
            raise bad(f"preprocess.{key}", f"{channels} finite numbers" + (" above 0" if key == "std" else ""))
    if "pad_value" in pre and not _real(pre["pad_value"], 0.0, 255.0):
        raise bad("preprocess.pad_value", "a number from 0 to 255")


def _get(meta: dict, field: str) -> Any:
    value: Any = meta
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_TEXT


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _real(value: Any, low: float, high: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and low <= value <= high)


__all__ = ["ContractError", "PREPROCESS_FIELDS", "check_metadata", "parse_metadata"]
