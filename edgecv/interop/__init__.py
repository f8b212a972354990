"""Bring your own model: the metadata of any model file, whoever made it.

edgecv runs everything (preprocessing, heads, labels, scoring) from one metadata document (the contract,
``portable/contract.py``). A file edgecv exported carries it; a file from another tool carries some of it in its
own terms, or none. ``describe`` builds the document from every place a fact can come from, first wins:

1. ``flags``     -- ``--preprocess FILE``, ``--task``, ``--labels``, ``--head`` (``Facts``);
2. ``sidecar``   -- ``FILE.edgecv.yaml`` / ``FILE.edgecv.json`` beside the model (``sidecar.py``);
3. ``edgecv``    -- the file's own edgecv metadata (``edgecv export`` or ``edgecv annotate`` wrote it);
4. a producer    -- what the producing tool wrote, read by one module per producer (``ultralytics.py``,
   ``tflite_support.py``);
5. ``file``      -- what the graph itself fixes: the input's size, layout and channels, the classes in its output,
   and the head when its output shape can only mean one thing.

Preprocessing is merged field by field; the other facts are taken whole. ``sources`` in the result names where each
came from, and every row and report shows it. What no source states stays missing, and ``unscorable`` says what
to state: edgecv never scores a file on a preprocessing it guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..portable.contract import PREPROCESS_FIELDS, ContractError, check_metadata
from ..portable.heads import HEADS
from ..preprocess import Preprocess
from .sidecar import FACT_KEYS, check_facts, read_sidecar


@dataclass(frozen=True)
class Facts:
    """What a user states about a model file (``--preprocess``, ``--task``, ``--labels``, ``--head``)."""

    preprocess: dict[str, Any] | None = None
    task: str | None = None
    labels: tuple[str, ...] | None = None
    head: str | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.preprocess, self.task, self.labels, self.head))

    def to_dict(self) -> dict[str, Any]:
        d = {"preprocess": self.preprocess, "task": self.task, "head": self.head,
             "labels": list(self.labels) if self.labels is not None else None}
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, where: str = "facts") -> Facts:
        d = check_facts(d or {}, where)
        labels = d.get("labels")
        return cls(d.get("preprocess"), d.get("task"), tuple(labels) if labels is not None else None, d.get("head"))


def _producers() -> list:
    from . import tflite_support, ultralytics

    return [ultralytics, tflite_support]


def producer_metadata(path: Path) -> tuple[str, dict[str, Any]] | None:
    """``(producer name, edgecv fields)`` from the first producer reader that knows the file, else None."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    for module in _producers():
        try:
            found = module.read(path, data)
        except (ValueError, IndexError, KeyError, TypeError, OverflowError, UnicodeDecodeError):
            found = None  # a producer's metadata we cannot read is a file without it, never a crash
        if found:
            return module.NAME, found
    return None


def describe(path: str | Path, facts: Facts | None = None, inputs: list | None = None, outputs: list | None = None,
             own: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The metadata of the model file ``path`` from every source (see the module's docstring), checked against
    the contract; ``inputs``/``outputs`` are the opened session's ``TensorInfo``s. None when nothing at all is
    known (a file from nowhere, with no flags: it can still be timed)."""
    from ..artifact import read_metadata

    path = Path(path)
    own = own if own is not None else read_metadata(path)
    side = read_sidecar(path)
    if own is not None and not facts and side is None:
        return own  # edgecv's own file, nothing stated over it: exactly as exported
    layers: list[tuple[str, dict[str, Any]]] = []
    if facts:
        layers.append(("flags", facts.to_dict()))
    if side is not None:
        layers.append(("sidecar", side))
    if own is not None:
        layers.append(("edgecv", own))
    found = producer_metadata(path) if own is None else None
    if found is not None:
        layers.append(found)
    meta, sources = _merge(layers)
    _from_graph(meta, sources, inputs or [], outputs or [])
    if not meta and not sources:
        return None
    meta["sources"] = sources
    meta.setdefault("model", own.get("model") if own else path.stem)
    try:
        return check_metadata(meta, f"{path.name} (facts from {', '.join(sorted(set(sources.values())))})")
    except ContractError as exc:
        raise UsageError(str(exc)) from None


def _merge(layers: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, str]]:
    meta: dict[str, Any] = {}
    sources: dict[str, str] = {}
    pre: dict[str, Any] = {}
    pre_sources: list[str] = []
    for name, layer in layers:
        for key, value in layer.items():
            if value is None:
                continue
            if key == "preprocess":
                new = {k: v for k, v in value.items() if k not in pre and v is not None}
                if new:
                    pre.update(new)
                    pre_sources.append(name)
            elif key not in meta:
                meta[key] = value
                if key in ("task", "labels", "head", "detection"):
                    sources[key] = name
    if pre:
        meta["preprocess"] = pre
        sources["preprocess"] = "+".join(pre_sources)
    if "labels" in meta and "num_classes" not in meta:
        meta["num_classes"] = len(meta["labels"])
    return meta, sources


def _from_graph(meta: dict[str, Any], sources: dict[str, str], inputs: list, outputs: list) -> None:
    """Fill what the graph itself fixes, and infer the task and head where the output shape leaves no doubt."""
    image = _image_input(inputs)
    if "preprocess" in meta and image is not None:
        pre, (layout, channels, height, width) = meta["preprocess"], image
        if "layout" not in pre and layout:
            pre["layout"] = layout
        if "colour" not in pre and channels == 1:
            pre["colour"] = "GRAY"
        if "input_size" not in pre and height and height == width:
            pre["input_size"] = height
    if "task" not in meta:
        task, head = _guess(outputs, image)
        if task:
            meta["task"], sources["task"] = task, "file"
            if head and "head" not in meta:
                meta["head"], sources["head"] = head, "file"
    classes = _classes(meta, outputs[0].shape) if outputs else None
    if classes and meta.get("num_classes") not in (None, classes):
        raise UsageError(f"{len(meta.get('labels') or [])} labels (from {sources.get('labels', 'the metadata')}) but "
                         f"the model's output has {classes} classes")
    if classes:
        meta["num_classes"] = classes
    if "preprocess" in meta:
        meta["preprocess"] = _complete(meta["preprocess"], meta.get("task"))
    if meta.get("task") == "detection" and meta.get("head") not in (None, "edgecv"):
        meta.setdefault("outputs", [{"name": outputs[0].name, "role": "raw"}] if outputs else [])


def _image_input(inputs: list) -> tuple[str | None, int | None, int | None, int | None] | None:
    """``(layout, channels, height, width)`` of a single 4-d image input, None for anything else."""
    if len(inputs) != 1 or inputs[0].shape is None or len(inputs[0].shape) != 4:
        return None
    _, a, b, c = inputs[0].shape
    if a in (1, 3) and c not in (1, 3):
        return "NCHW", a, b, c
    if c in (1, 3) and a not in (1, 3):
        return "NHWC", c, a, b
    return None, None, None, None


def _guess(outputs: list, image) -> tuple[str | None, str | None]:
    """The task (and head) an output shape can only mean; (None, None) when it could mean several."""
    shapes = [o.shape for o in outputs if o.shape is not None]
    if len(shapes) != 1:
        return None, None
    shape = shapes[0]
    if len(shape) == 2 and shape[1]:
        return "classification", None
    if len(shape) == 4 and image is not None and shape[2] and shape[2] == image[2] and shape[3] == image[3]:
        return "segmentation", None
    if len(shape) == 3 and shape[1] and shape[2] and 5 <= shape[1] < shape[2]:
        return "detection", "yolov8"  # [B, 4 + classes, boxes]: a box per anchor, channels first
    return None, None


def _classes(meta: dict[str, Any], shape) -> int | None:
    if not shape:
        return None
    head = meta.get("head")
    if meta.get("task") == "classification" and len(shape) == 2:
        return shape[1]
    if meta.get("task") == "segmentation" and len(shape) == 4:
        return shape[1]
    if head == "yolov8" and len(shape) == 3 and shape[1]:
        return shape[1] - 4
    if head == "yolov5" and len(shape) == 3 and shape[2]:
        return shape[2] - 5
    return None


def _complete(pre: dict[str, Any], task: str | None) -> dict[str, Any]:
    """A stated (partial) preprocessing with the contract's defaults for what it leaves out; no input size
    stays missing (a dynamic input whose size nobody stated)."""
    if "input_size" not in pre:
        return pre
    stated = dict(pre)
    if task == "detection":
        stated.setdefault("mode", "letterbox")
    if stated.get("colour") == "GRAY":
        stated.setdefault("mean", [0.0])
        stated.setdefault("std", [1.0])
    try:
        return Preprocess.from_dict({k: v for k, v in stated.items() if k in PREPROCESS_FIELDS}).to_dict()
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the stated preprocessing does not hold together: {exc}") from None


def with_facts(meta: dict[str, Any] | None, facts: Facts) -> dict[str, Any]:
    """A zoo model's metadata (from its card) with what the user stated over it: the preprocessing (e.g.
    torchvision's own resize and crop for torchvision weights) and the labels. Its task and head are the card's."""
    meta = dict(meta or {})
    sources = {"preprocess": "card", "labels": "card", "task": "card"}
    if facts.task and facts.task != meta.get("task"):
        raise UsageError(f"{meta.get('model', 'the model')} is a {meta.get('task')} model; --task cannot change that")
    if facts.head:
        raise UsageError(f"{meta.get('model', 'the model')} decodes its own head; --head is for files from other tools")
    if facts.preprocess:
        base = Preprocess.from_dict(meta["preprocess"])
        if "input_size" in facts.preprocess:  # the card's crop ratio at the new size, unless stated too
            base = base.at_size(facts.preprocess["input_size"])
        merged = {**base.to_dict(), **facts.preprocess}
        if merged.get("layout") != "NCHW":
            raise UsageError("a PyTorch model takes NCHW input; --preprocess layout must be NCHW here")
        meta["preprocess"] = _complete(merged, meta.get("task"))
        sources["preprocess"] = "flags+card"
    if facts.labels is not None:
        if meta.get("num_classes") not in (None, len(facts.labels)):
            raise UsageError(f"--labels gives {len(facts.labels)} labels but the model has {meta['num_classes']} classes")
        meta["labels"], sources["labels"] = list(facts.labels), "flags"
    meta["sources"] = sources
    return meta


def unscorable(meta: dict[str, Any] | None, name: str) -> str | None:
    """Why a file cannot be scored (or its predictions read), naming what to state; None when it can."""
    if meta and meta.get("unsupported"):
        return f"{name} is {meta['unsupported']}"
    how = f"state it with --preprocess FILE or {name}.edgecv.yaml (docs/byom.md), or write it in with edgecv annotate"
    if not meta or not meta.get("preprocess"):
        return f"{name} does not say how images are prepared for it (size, resize, mean/std): {how}"
    if "input_size" not in meta["preprocess"]:
        return f"{name} takes any image size and no source states one: state input_size ({how})"
    if not meta.get("task"):
        return f"{name}: its outputs could mean several tasks: state --task and, for a detector, --head"
    if meta["task"] == "detection" and meta.get("head") in (None, "edgecv"):
        roles = {o.get("role") for o in meta.get("outputs") or []}
        if not {"boxes", "scores"} <= roles:
            return (f"{name} is a detector whose output layout nobody stated: --head "
                    f"{'|'.join(h for h in HEADS['detection'] if h != 'edgecv')}")
    return None


__all__ = ["FACT_KEYS", "Facts", "describe", "producer_metadata", "unscorable", "with_facts"]
