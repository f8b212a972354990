"""The session interface: an opened model. ``Session.run(inputs) -> outputs`` for users, and the timing
contract the profiler relies on for every runtime:

* ``prepare(inputs)`` checks and converts inputs once (names, shape, dtype, int8 quantization with the
  file's own scale), so that work stays out of any timing;
* ``infer(feeds)`` is the runtime's core call on prepared feeds (subclasses write ``_infer``);
* ``time(feeds, warmup, iters, min_time_s)`` returns the first call's and each timed call's milliseconds.
  A remote session (qemu or SSH) overrides it to time on the device, so transfers stay out of the numbers;
  ``timed_on_device`` says which it was, and ``last_infer_ms`` holds the last call's time either way.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EdgecvError, UsageError
from ..portable.engines import dequantize, quantize
from ..portable.errors import one_line
from ..portable.timing import time_calls


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | None, ...] | None  # None marks a dynamic dimension; the whole shape None: unknown rank
    dtype: np.dtype
    scale: float | None = None  # affine quantization: real = scale * (q - zero_point)
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale is not None and np.issubdtype(self.dtype, np.integer)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": None if self.shape is None else list(self.shape), "dtype": str(self.dtype),
                "quantization": {"scale": self.scale, "zero_point": self.zero_point} if self.quantized else None}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> TensorInfo:
        """From the device script's ``{name, shape, dtype, scale, zero_point}``."""
        shape = None if spec["shape"] is None else tuple(spec["shape"])
        return cls(spec["name"], shape, np.dtype(spec["dtype"]), spec.get("scale"),
                   int(spec.get("zero_point") or 0))


Inputs = np.ndarray | Mapping[str, np.ndarray]


class Session(ABC):
    """An opened model. ``run`` takes float32 (or already-quantized) arrays and returns float32 by name."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    # Filled in by Runtime.open:
    runtime: str = ""
    provider: str | None = None
    device: str = "host"
    emulated: bool = False
    metadata: dict[str, Any] | None = None
    path: Path | None = None
    init_ms: float = 0.0
    timed_on_device: bool = False  # True where the device itself reports each call's time (remote sessions)
    last_infer_ms: float | None = None  # the last core call's milliseconds (set by ``infer``)
    execution: dict[str, Any] | None = None  # what the runtime chose (OpenVINO: the precision it computes in, ...)

    def throughput(self, feeds: dict[str, np.ndarray], seconds: float) -> float | None:
        """Inputs per second measured by the runtime's own concurrent requests, for a runtime that has them
        (OpenVINO with the throughput hint); None: the profile's img/s is the batch over the p50."""
        return None

    @abstractmethod
    def _infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one batch already in the inputs' dtypes and batch size; outputs in ``self.outputs`` order."""

    def prepare(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Checked inputs in the model's own dtypes (float input quantized for an int8 model), by name."""
        return self._feeds(inputs)

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The core call on prepared feeds; outputs in the model's own dtypes, in ``self.outputs`` order."""
        start = time.perf_counter()
        try:
            outs = self._infer(feeds)
        except EdgecvError:
            raise
        except Exception as exc:  # a runtime refusing a corrupt file at its first call (LiteRT's RuntimeError, ...)
            raise EdgecvError(f"{self._label()}: the runtime failed to run it ({type(exc).__name__}: "
                              f"{one_line(exc)})") from None
        if not self.timed_on_device:
            self.last_infer_ms = (time.perf_counter() - start) * 1e3
        return outs

    def time(self, feeds: dict[str, np.ndarray], warmup: int = 10, iters: int = 50,
             min_time_s: float = 0.0) -> tuple[float, list[float]]:
        """``(first call ms, [ms of each timed call])``: one first call, ``warmup`` untimed calls, then at least
        ``iters`` timed calls and ``min_time_s`` seconds of them, all on ``feeds`` from ``prepare``."""
        self.infer(feeds)
        first_ms = self.last_infer_ms
        core = self._infer
        return first_ms, time_calls(lambda: core(feeds), warmup, iters, min_time_s)

    def run(self, inputs: Inputs, raw: bool = False) -> dict[str, np.ndarray]:
        """One array (single-input models) or ``{name: array}`` -> ``{output name: array}``.

        Outputs are float32 (int8 outputs dequantized) unless ``raw``, which keeps the model's own dtypes."""
        feeds = self.prepare(inputs)
        batch = self.inputs[0].shape[0] if len(self.inputs) == 1 and self.inputs[0].shape else None
        n = len(next(iter(feeds.values()))) if batch is not None else None
        outs = self.infer(feeds) if batch in (None, n) else self._chunked(feeds, n, batch)
        if raw:
            return {o.name: y for o, y in zip(self.outputs, outs)}
        return {o.name: from_output_dtype(y, o) for o, y in zip(self.outputs, outs)}

    def _chunked(self, feeds: dict[str, np.ndarray], n: int, batch: int) -> list[np.ndarray]:
        """A fixed-batch single-input model fed ``n`` items: run in chunks, padding the last one."""
        parts = []
        for start in range(0, n, batch):
            chunk = {k: v[start:start + batch] for k, v in feeds.items()}
            m = len(next(iter(chunk.values())))
            if m < batch:
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], batch - m, axis=0)]) for k, v in chunk.items()}
            parts.append([o[:m] for o in self.infer(chunk)])
        return [np.concatenate([p[k] for p in parts]) for k in range(len(self.outputs))]

    def _feeds(self, inputs: Inputs) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            unknown = set(inputs) - {i.name for i in self.inputs}
            if unknown:
                raise UsageError(f"{self._label()} has no input named {', '.join(sorted(unknown))} "
                                 f"(inputs: {', '.join(i.name for i in self.inputs)})")
            missing = [i.name for i in self.inputs if i.name not in inputs]
            if missing:
                raise UsageError(f"{self._label()} needs input {', '.join(missing)} as well")
            given = inputs
        elif len(self.inputs) == 1:
            given = {self.inputs[0].name: inputs}
        else:
            raise UsageError(f"{self._label()} has {len(self.inputs)} inputs "
                             f"({', '.join(i.name for i in self.inputs)}); pass a dict of arrays")
        return {info.name: self._check(info, given[info.name]) for info in self.inputs}

    def _check(self, info: TensorInfo, x: Any) -> np.ndarray:
        x = np.asarray(x)
        expected = info.shape
        fits = expected is None or (x.ndim == len(expected) and all(
            e is None or e == g for e, g in zip(expected[1:], x.shape[1:])))
        if not fits:
            raise UsageError(f"{self._label()}: input {info.name!r} takes shape {_shape(expected)}, got "
                             f"{list(x.shape)}{_layout_hint(expected, x.shape, self.metadata)}")
        if info.quantized and x.dtype == info.dtype:
            return x  # already quantized by the caller
        if np.issubdtype(x.dtype, np.floating):
            return to_input_dtype(x, info)
        if x.dtype == info.dtype:
            return x
        kind = f"{info.dtype} (quantized, or pass float32)" if info.quantized else str(info.dtype)
        raise UsageError(f"{self._label()}: input {info.name!r} takes {kind}, got {x.dtype}; preprocess images "
                         "first (edgecv predict does this from the file's metadata)")

    def _label(self) -> str:
        return self.path.name if self.path else (self.metadata or {}).get("model", "the model")

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "runtime": self.runtime, "provider": self.provider,
                "device": self.device, "emulated": self.emulated, "init_ms": round(self.init_ms, 3),
                "inputs": [i.to_dict() for i in self.inputs], "outputs": [o.to_dict() for o in self.outputs]}

    def close(self) -> None:  # noqa: B027  (optional: most runtimes hold nothing to release)
        """Release the runtime's resources (a remote session ends its device process)."""

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shape(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "[any rank]"
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


def _layout_hint(expected: tuple, got: tuple, metadata: dict | None) -> str:
    """Name the layout mix-up when the array is the model's input in the other channel order."""
    if expected is None or len(expected) != 4 or len(got) != 4:
        return ""
    if tuple(got[i] for i in (0, 2, 3, 1))[1:] == expected[1:]:
        return " -- that is NCHW but the model takes NHWC: x.transpose(0, 2, 3, 1)"
    if tuple(got[i] for i in (0, 3, 1, 2))[1:] == expected[1:]:
        return " -- that is NHWC but the model takes NCHW: x.transpose(0, 3, 1, 2)"
    size = ((metadata or {}).get("preprocess") or {}).get("input_size")
    return f" (the model was exported at {size}x{size}; re-export with --imgsz to change it)" if size else ""


def to_input_dtype(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.quantized:  # the board's own arithmetic: one definition, in the portable core
        return quantize(x, info.dtype, info.scale, info.zero_point)
    return x.astype(info.dtype, copy=False)


def from_output_dtype(y: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.quantized:
        return dequantize(y, info.scale, info.zero_point)
    return y.astype(np.float32, copy=False)


def predictor(session: Session, metadata: dict[str, Any] | None = None) -> Callable[[np.ndarray], Any]:
    """Adapt a session to the evaluator's predictor: logits, ``(boxes, scores)`` for detection, or a detector
    that suppresses its own boxes: ``Detections`` (``portable/heads.decode`` reads any head layout)."""
    from ..portable.heads import Detections, HeadError, decode

    metadata = metadata or session.metadata or {}

    def predict(x: np.ndarray):
        try:
            decoded = decode(session.run(x), metadata)
        except HeadError as exc:
            raise UsageError(f"{session._label()}: {exc}") from None
        if "detections" in decoded:
            return Detections(decoded["detections"])
        if metadata.get("task") == "detection":
            return decoded["boxes"], decoded["scores"]
        return decoded["logits"]

    return predict

