"""onnxruntime sessions (CPU here; CUDA and TensorRT are the same session with another provider list)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._optional import import_optional
from ..errors import EdgecvError
from .base import Session, TensorInfo

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8,
           "tensor(int8)": np.int8, "tensor(int32)": np.int32, "tensor(int64)": np.int64}


def _info(arg) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
    return TensorInfo(arg.name, shape, np.dtype(_DTYPES.get(arg.type, np.float32)))


class OnnxRuntimeSession(Session):
    def __init__(self, path: Path, threads: int | None = None, providers: list[str] | None = None) -> None:
        ort = import_optional("onnxruntime", "onnx")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise EdgecvError(f"onnxruntime cannot load {path.name}: {str(exc).splitlines()[0]}") from None
        self.inputs = [_info(a) for a in self.session.get_inputs()]
        self.outputs = [_info(a) for a in self.session.get_outputs()]

    def _infer(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.inputs[0].name: x})
