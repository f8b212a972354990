"""The runtime session interface.

A subclass opens a model file and implements ``_infer`` on arrays of the model's own input dtype. The
base class does what every runtime needs the same way: float32 in, float32 out, quantizing int8 and
casting fp16 inputs with the model's own parameters, and feeding a fixed-batch model any number of images.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import UsageError


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | None, ...]  # None marks a dynamic dimension
    dtype: np.dtype
    scale: float | None = None  # affine quantization: real = scale * (q - zero_point)
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale is not None and np.issubdtype(self.dtype, np.integer)


class Session(ABC):
    """An opened model. ``run`` takes and returns float32 arrays whatever the file's I/O dtypes."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    @abstractmethod
    def _infer(self, x: np.ndarray) -> list[np.ndarray]:
        """Run one batch already in the input's dtype and batch size; outputs in ``self.outputs`` order."""

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        batch = self.inputs[0].shape[0]
        if batch is None or batch == len(x):
            return self._run_one(x)
        parts = []
        for start in range(0, len(x), batch):
            chunk = x[start:start + batch]
            n = len(chunk)
            if n < batch:  # pad the last chunk to the model's fixed batch
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - n, axis=0)])
            parts.append([o[:n] for o in self._run_one(chunk)])
        return [np.concatenate([p[k] for p in parts]) for k in range(len(self.outputs))]

    def _run_one(self, x: np.ndarray) -> list[np.ndarray]:
        info = self.inputs[0]
        outs = self._infer(to_input_dtype(np.asarray(x, dtype=np.float32), info))
        return [from_output_dtype(o, i) for o, i in zip(outs, self.outputs)]


def to_input_dtype(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.quantized:
        limits = np.iinfo(info.dtype)
        q = np.round(x / info.scale) + info.zero_point
        return np.clip(q, limits.min, limits.max).astype(info.dtype)
    return x.astype(info.dtype, copy=False)


def from_output_dtype(y: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.quantized:
        return ((y.astype(np.float32) - info.zero_point) * info.scale).astype(np.float32)
    return y.astype(np.float32, copy=False)


def open_session(path: str | Path, threads: int | None = None, **options: Any) -> Session:
    """Open an ``.onnx`` file with onnxruntime or a ``.tflite`` file with LiteRT."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"model file not found: {path}")
    if path.suffix == ".onnx":
        from .onnxruntime import OnnxRuntimeSession

        return OnnxRuntimeSession(path, threads=threads, **options)
    if path.suffix == ".tflite":
        from .litert import LiteRTSession

        return LiteRTSession(path, threads=threads, **options)
    raise UsageError(f"{path.name}: no runtime for {path.suffix or 'files without a suffix'} (use .onnx or .tflite)")


def predictor(session: Session, metadata: dict[str, Any]) -> Callable[[np.ndarray], Any]:
    """Adapt a session to the evaluator's predictor: logits, or ``(boxes, scores)`` for detection."""
    roles = {o["role"]: o["name"] for o in metadata.get("outputs", []) if "role" in o}
    order = [o.name for o in session.outputs]

    def predict(x: np.ndarray):
        outs = dict(zip(order, session.run(x)))
        if metadata["task"] == "detection":
            return outs[roles["boxes"]], outs[roles["scores"]]
        return outs[roles["logits"]] if "logits" in roles else outs[order[0]]

    return predict
