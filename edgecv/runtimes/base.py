"""The runtime interface: ``Runtime.open(artifact, device) -> Session``, ``Session.run(inputs) -> outputs``.

A runtime subclass opens a model file and implements ``Session._infer`` on arrays already in the model's
own dtypes and batch size. The base classes do everything else the same way for every runtime: resolving
the device, reading the artifact's metadata, checking inputs (names, shape, dtype, layout), quantizing
float inputs for int8 models with the file's own scale and zero point, feeding a fixed-batch model any
number of images, returning float32 outputs by name, and sending the work to a remote device (qemu or SSH)
when the device is not this machine.
"""

from __future__ import annotations

import importlib.util
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import MissingDependencyError, UsageError
from ..portable.engines import dequantize, quantize
from ..resources import cap_threads


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

    @abstractmethod
    def _infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one batch already in the inputs' dtypes and batch size; outputs in ``self.outputs`` order."""

    def run(self, inputs: Inputs, raw: bool = False) -> dict[str, np.ndarray]:
        """One array (single-input models) or ``{name: array}`` -> ``{output name: array}``.

        Outputs are float32 (int8 outputs dequantized) unless ``raw``, which keeps the model's own dtypes."""
        feeds = self._feeds(inputs)
        batch = self.inputs[0].shape[0] if len(self.inputs) == 1 and self.inputs[0].shape else None
        n = len(next(iter(feeds.values()))) if batch is not None else None
        outs = self._infer(feeds) if batch in (None, n) else self._chunked(feeds, n, batch)
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
            parts.append([o[:m] for o in self._infer(chunk)])
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

    def close(self) -> None:
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


class Runtime(ABC):
    """A way to run models. Subclasses set the class attributes and implement ``_open``."""

    name: str = ""
    suffixes: tuple[str, ...] = ()  # the files it opens (".onnx"); empty for runtimes that take other targets
    providers: tuple[str, ...] = ("cpu",)
    requires: tuple[str, ...] = ()  # importable modules it needs (any one of them is enough)
    install: str = ""  # how to install them
    on_device: bool = False  # the standalone device script can run it on a remote device

    def available(self) -> tuple[bool, str]:
        """(usable here, why not / what it found)."""
        for module in self.requires:
            if importlib.util.find_spec(module.split(".")[0]) is not None:
                return True, module
        return False, f"{' or '.join(self.requires)} not installed; {self.install}"

    def available_providers(self) -> list[str]:
        return list(self.providers) if self.available()[0] else []

    def open(self, artifact: Any, device: Any = None, provider: str | None = None, threads: int | None = None,
             **options: Any) -> Session:
        """Open ``artifact`` (a path or an ``Artifact``) on ``device`` (a name, a profile file, a Device)."""
        from ..artifact import read_metadata
        from ..devices import get_device
        from ..portable.metadata import match_outputs

        target = getattr(artifact, "path", artifact)
        device = get_device(device)
        provider = provider or self.providers[0]
        if provider not in self.providers:
            raise UsageError(f"the {self.name} runtime has no provider {provider!r} (providers: "
                             f"{', '.join(self.providers)})")
        path = self._check_target(target)
        self._check_options(options)
        threads = cap_threads(threads, device)
        ok, why = self.available()
        if device.is_local and not ok:
            raise MissingDependencyError(f"the {self.name} runtime cannot run here: {why}")
        start = time.perf_counter()
        if device.is_local:
            session = self._open(path, provider, threads, **options)
        elif not self.on_device:
            raise UsageError(f"the {self.name} runtime runs on this machine only, not on {device.name}")
        else:
            if provider != "cpu" or options:
                raise UsageError(f"on {device.name} the {self.name} runtime takes --threads only (CPU provider)")
            from .placement import open_on_device

            session = open_on_device(device, path, self.name, threads)
        session.init_ms = session.init_ms or (time.perf_counter() - start) * 1e3
        session.runtime, session.provider, session.device = self.name, provider, device.name
        session.emulated = device.emulated
        if isinstance(path, Path):
            session.path = path
            session.metadata = match_outputs(getattr(artifact, "metadata", None) or read_metadata(path),
                                             [o.name for o in session.outputs])
            _quantization_from_metadata(session)
        return session

    def _check_options(self, options: dict[str, Any]) -> None:
        """Options are the keyword arguments ``_open`` declares; anything else is named, not passed on."""
        import inspect

        params = inspect.signature(self._open).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):  # a plugin that takes anything checks for itself
            return
        known = [p.name for p in params if p.name not in ("path", "target", "provider", "threads")]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise UsageError(f"the {self.name} runtime has no option {unknown[0]!r} (options: "
                             f"{', '.join(known) or 'none'})")

    def _check_target(self, target: Any) -> Path | Any:
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"model file not found: {path}")
        if self.suffixes and path.suffix not in self.suffixes:
            raise UsageError(f"the {self.name} runtime opens {', '.join(self.suffixes)} files, not {path.name}")
        return path

    @abstractmethod
    def _open(self, path: Any, provider: str, threads: int | None, **options: Any) -> Session:
        """Open the model on this machine."""


def _quantization_from_metadata(session: Session) -> None:
    """Runtimes that do not report I/O quantization (onnxruntime) get it from the artifact's metadata."""
    for key in ("inputs", "outputs"):
        recorded = {t["name"]: t.get("quantization") for t in (session.metadata or {}).get(key, [])}
        infos = getattr(session, key)
        for k, info in enumerate(infos):
            q = recorded.get(info.name)
            if q and info.scale is None and np.issubdtype(info.dtype, np.integer):
                infos[k] = TensorInfo(info.name, info.shape, info.dtype, float(q["scale"]), int(q["zero_point"]))


def predictor(session: Session, metadata: dict[str, Any] | None = None) -> Callable[[np.ndarray], Any]:
    """Adapt a session to the evaluator's predictor: logits, or ``(boxes, scores)`` for detection."""
    metadata = metadata or session.metadata or {}
    roles = {o["role"]: o["name"] for o in metadata.get("outputs", []) if "role" in o}
    first = session.outputs[0].name

    def predict(x: np.ndarray):
        outs = session.run(x)
        if metadata.get("task") == "detection":
            return outs[roles["boxes"]], outs[roles["scores"]]
        return outs[roles.get("logits", first)]

    return predict
