"""``ProfileSpec``: what a profile measures and how. Defaults, the recorded ``matrix`` of ``results.json``
and its validation live here only.

``edgecv profile`` builds a spec from its options, ``edgecv check`` reads one back from a baseline
(``ProfileSpec.from_dict``). A baseline is data. In CI it often comes from the branch under test, so nothing
in it may run code: a ``module.py:factory`` target is refused unless the same target is named on the command
line with ``--allow-module``. Every value is checked for its type before any work starts, and anything
unknown is refused with one line naming the key. Baselines written by earlier versions (comma-separated
strings, missing keys) read back unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from ..errors import UsageError

DEFAULT_TARGETS = ("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "efficientnet_lite0", "yolo_n",
                   "lraspp_mobilenet_v3_large")  # every model with default weights: all three tasks
HINTS = ("latency", "throughput")  # OpenVINO's performance hints (portable/engines.OPENVINO_HINTS)
_LISTS = ("format", "precision", "runtime", "provider", "device")  # comma-separated strings or lists of them
# name -> (smallest, largest) allowed value: a baseline is data, and iters = 10**9 would hold CI for days
_INTS = {"limit": (1, 10**8), "batch": (1, 4096), "threads": (1, 4096), "warmup": (0, 100_000), "iters": (1, 1_000_000),
         "track": (0, 10_000)}


def _names(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(v.strip() for v in items if v.strip())


@dataclass(frozen=True)
class ProfileSpec:
    targets: tuple[str, ...] = DEFAULT_TARGETS
    format: tuple[str, ...] | None = None  # None: every format this machine can export and run
    precision: tuple[str, ...] | None = None  # None: formats.DEFAULT_PRECISIONS
    runtime: tuple[str, ...] | None = None  # None: every runtime that opens the format
    provider: tuple[str, ...] | None = None  # None: the providers available here
    device: tuple[str, ...] = ("host",)
    data: str | None = None  # None: the data each model was trained on
    limit: int | None = None
    imgsz: int | str | None = None  # zoo: the export size; files: N or "HxW" for dynamic inputs
    batch: int = 1
    threads: int | None = None
    warmup: int = 10
    iters: int = 50
    min_time_s: float = 1.0
    input_shapes: tuple[str, ...] = ()  # NAME=1x3x640x640
    track: int = 0  # detectors: also track through this many shapes-track sequences (MOTA, IDF1, fps)
    facts: dict[str, Any] | None = None  # interop.Facts.to_dict(): --preprocess, --task, --labels, --head
    hint: str = "latency"  # OpenVINO's performance hint: latency (one stream) or throughput (requests in flight)

    @classmethod
    def of(cls, targets: Sequence[str] | None = None, **values: Any) -> ProfileSpec:
        """From keyword arguments as a caller writes them: comma-separated strings or lists, None for a
        default. An unknown keyword is a TypeError, as for any function."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"profile() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        clean: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
        for key in _LISTS:
            if key in clean:
                clean[key] = _names(clean[key]) or None
        if clean.get("device") is None:
            clean.pop("device", None)
        if "input_shapes" in clean:
            clean["input_shapes"] = tuple(clean["input_shapes"])
        return cls(targets=tuple(targets) if targets else DEFAULT_TARGETS, **clean)

    def replace(self, **changes: Any) -> ProfileSpec:
        return dataclasses.replace(self, **changes)

    @property
    def settings(self) -> dict[str, Any]:
        """What every cell is measured with, and part of each row's fingerprint."""
        return {"threads": self.threads, "warmup": self.warmup, "iters": self.iters, "min_time_s": self.min_time_s,
                "data": self.data, "limit": self.limit, "track": self.track, "facts": self.facts, "hint": self.hint}

    def to_dict(self) -> dict[str, Any]:
        """The ``matrix`` recorded in ``results.json``: what ``edgecv check`` re-profiles."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, matrix: Any, source: str, allow_modules: Sequence[str] = (),
                  allow_devices: Sequence[str] | None = ()) -> ProfileSpec:
        """A recorded ``matrix`` read back and validated (``source`` names the file in messages). Its devices
        must be the host or profiles configured on this machine (or named in ``allow_devices``): a baseline
        naming a ``.toml`` of its own could send the model to any host over ssh. ``allow_devices=None`` skips
        that check (a folder's own report, compared but never run from)."""
        from ..models.resolve import is_user_module

        def bad(key: str, want: str) -> UsageError:
            return UsageError(f"{source}: matrix.{key} must be {want}, not {matrix.get(key)!r}"[:300])

        if not isinstance(matrix, dict):
            raise UsageError(f"{source}: its matrix is not an object")
        unknown = sorted(set(matrix) - {f.name for f in fields(cls)})
        if unknown:
            raise UsageError(f"{source}: unknown matrix key {unknown[0]!r}")
        targets = matrix.get("targets")
        if not isinstance(targets, list) or not targets or not all(isinstance(t, str) and t for t in targets):
            raise bad("targets", "a non-empty list of names or paths")
        for target in targets:
            if is_user_module(target) and target not in allow_modules:
                raise UsageError(f"{source} names Python code as a target ({target}); a baseline is data and "
                                 f"cannot run code. To profile it anyway, name it yourself: --allow-module {target}")
        for key in _LISTS:
            value = matrix.get(key)
            if value is not None and not (isinstance(value, str) or (
                    isinstance(value, list) and all(isinstance(v, str) for v in value))):
                raise bad(key, "a string or a list of strings")
        if allow_devices is not None:
            _check_devices(_names(matrix.get("device")) or ("host",), source, allow_devices)
        if matrix.get("data") is not None and not isinstance(matrix["data"], str):
            raise bad("data", "a dataset name or path")
        for key, (least, most) in _INTS.items():
            value = matrix.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most):
                raise bad(key, f"an integer from {least} to {most}")
        imgsz = matrix.get("imgsz")
        if imgsz is not None and (isinstance(imgsz, bool) or not isinstance(imgsz, (int, str))):
            raise bad("imgsz", "N or HxW")
        min_time = matrix.get("min_time_s")
        if min_time is not None and (isinstance(min_time, bool) or not isinstance(min_time, (int, float))
                                     or not 0 <= min_time < 3600):
            raise bad("min_time_s", "seconds between 0 and 3600")
        shapes = matrix.get("input_shapes") or []
        if not isinstance(shapes, list) or not all(isinstance(s, str) for s in shapes):
            raise bad("input_shapes", "a list of NAME=1x3x640x640")
        if matrix.get("hint") is not None and matrix["hint"] not in HINTS:
            raise bad("hint", " or ".join(HINTS))
        facts = matrix.get("facts")
        if facts is not None:
            from ..interop import Facts

            if not isinstance(facts, dict):
                raise bad("facts", "an object of preprocess, task, labels and head")
            facts = Facts.from_dict(facts, f"{source}: matrix.facts").to_dict() or None
        return cls.of(**{**matrix, "input_shapes": shapes, "facts": facts})


def _check_devices(devices: Sequence[str], source: str, allowed: Sequence[str]) -> None:
    from ..devices import list_devices

    configured = {d.name for d in list_devices()} | {"host"}
    for name in devices:
        if name in allowed:
            continue
        if name.endswith(".toml") or name not in configured:
            raise UsageError(f"{source} names device {name[:80]!r}, which is not a device configured here "
                             f"({', '.join(sorted(configured))}); a baseline is data and cannot choose where models "
                             f"are sent. To use it anyway, name it yourself: --allow-device {name[:80]}")


__all__ = ["DEFAULT_TARGETS", "ProfileSpec"]
