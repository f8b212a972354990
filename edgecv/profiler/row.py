"""``Row``: one measured cell of a profile, as ``results.json`` stores it and ``edgecv check`` compares it.

The row's identity (``key``), its one headline accuracy figure (``headline``) and its fields are defined
here and nowhere else. ``to_dict``/``from_dict`` keep ``results.json`` what it has been: a row written by an
older edgecv (fewer fields, no ``key``) reads back, and fields this version does not know are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..metrics import ACCURACY_KEYS, HEADLINE

HEADLINE_KEYS = tuple(HEADLINE.values())  # a row's one accuracy figure: top-1 for classifiers, mAP50-95 for detectors
KEY_FIELDS = ("model", "format", "precision", "runtime", "provider", "device", "imgsz", "batch")


def row_key(values: Mapping[str, Any], shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()) -> str:
    """``model|format|precision|runtime|provider|device|imgsz|batch[|name=1x3x64x64,...]``: what a resumed
    profile skips and what ``edgecv check`` matches a baseline row by."""
    parts = [values[k] for k in KEY_FIELDS]
    if shapes:
        parts.append(",".join(f"{n}={'x'.join(map(str, s))}" for n, s in shapes))
    return "|".join(str(v) for v in parts)


@dataclass
class Row:
    model: str
    format: str
    precision: str
    runtime: str
    provider: str | None
    device: str
    imgsz: int | str | None
    batch: int
    task: str | None = None
    emulated: bool | None = None
    target: str | None = None
    size_mb: float | None = None
    params: int | None = None
    macs: int | None = None
    inputs: list[dict[str, Any]] | None = None  # what was timed: [{name, shape, dtype}]
    top1: float | None = None
    top5: float | None = None
    map50_95: float | None = None
    map50: float | None = None
    miou: float | None = None  # segmentation: mean IoU and pixel accuracy, percent
    pixel_acc: float | None = None
    accuracy_delta: float | None = None  # points against the fp32 PyTorch row of the same model and size
    latency_ms: dict[str, float] | None = None  # p50, p90, p99, mean, std, min, n
    throughput_ips: float | None = None
    init_ms: float | None = None
    first_ms: float | None = None
    peak_mem_mb: float | None = None
    efficiency: float | None = None
    load: dict[str, Any] | None = None
    threads: int | None = None  # what it was timed with: --threads, or the cores other work left free then
    unstable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: str = "failed"
    error: str | None = None
    key: str | None = None
    fingerprint: str | None = None
    run: str | None = None
    peak: dict[str, Any] | None = None
    seconds: float | None = None
    layers_report: str | None = None  # int8 files, with `profile --layers`: the page of its per-layer errors
    node: dict[str, Any] | None = None  # where it ran: {"hostname"}, and "ray_node_id" on a Ray cluster
    tracking: dict[str, Any] | None = None  # detectors, with `profile --track N`: MOTA, IDF1, fps, tracker share
    scored_on: dict[str, Any] | None = None  # what the accuracy was measured on: {"data", "split", "images"}
    # what the runtime chose, where it says (OpenVINO): {"precision": "bf16", "hint", "streams", "requests", "device"}
    execution: dict[str, Any] | None = None
    sources: dict[str, str] | None = None  # a file's facts and where each came from (flags, sidecar, ultralytics, ...)
    extra: dict[str, Any] = field(default_factory=dict)  # fields from another edgecv version, kept as they are

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def identity(self) -> str:
        return self.key or row_key(self.__dict__)

    @property
    def headline(self) -> tuple[str, float] | None:
        """``("top1", 93.6)``, ``("map50_95", 58.3)`` or ``("miou", 71.2)``, or None when the row has no accuracy."""
        for name in HEADLINE_KEYS:
            value = getattr(self, name)
            if value is not None:
                return name, float(value)
        return None

    @property
    def accuracy(self) -> float | None:
        found = self.headline
        return found[1] if found else None

    @property
    def p50(self) -> float | None:
        return (self.latency_ms or {}).get("p50")

    def describe(self) -> str:
        return f"{self.model} {self.format} {self.precision}"

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        # absent rather than null, as before these fields existed
        for name in ("fingerprint", "run", "peak", "seconds", "layers_report", "node", "tracking", "miou", "pixel_acc",
                     "execution"):
            if out[name] is None:
                del out[name]
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Row:
        known = {f.name for f in fields(cls)} - {"extra"}
        missing = [k for k in KEY_FIELDS if k not in data]
        if missing:
            raise KeyError(missing[0])
        row = cls(**{k: v for k, v in data.items() if k in known})
        row.unstable, row.notes = list(row.unstable or []), list(row.notes or [])
        row.extra = {k: v for k, v in data.items() if k not in known}
        return row


__all__ = ["ACCURACY_KEYS", "HEADLINE_KEYS", "KEY_FIELDS", "Row", "row_key"]
