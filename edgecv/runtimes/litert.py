"""LiteRT (TFLite): ``ai_edge_litert``'s interpreter, or ``tflite_runtime`` where that is what is installed.

The core call is the on-device script's own ``LiteRTModel`` (signature names for I/O, set_tensor/invoke/
get_tensor on the signature's tensors), so the host runs a ``.tflite`` exactly as a device does.
Options: ``xnnpack`` (default True; False runs LiteRT's builtin kernels only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgecvError, MissingDependencyError
from ..portable.engines import LiteRTModel
from ..portable.errors import DeviceError
from .runtime import Runtime
from .session import Session, TensorInfo


class LiteRT(Runtime):
    name = "litert"
    suffixes = (".tflite",)
    requires = ("ai_edge_litert", "tflite_runtime")
    install = "pip install 'edgecv[tflite]' (or ai-edge-litert alone to run models)"
    on_device = True

    def _open(self, path: Path, provider: str, threads: int | None, xnnpack: bool = True) -> Session:
        return LiteRTSession(path, threads, xnnpack)


class LiteRTSession(Session):
    def __init__(self, path: Path, threads: int | None = None, xnnpack: bool = True) -> None:
        try:
            self.model = LiteRTModel(path, threads, xnnpack)
        except ImportError as exc:
            raise MissingDependencyError(f"LiteRT is not installed ({exc}); {LiteRT.install}") from None
        except DeviceError as exc:
            raise EdgecvError(str(exc)) from None
        except Exception as exc:  # the interpreter raises ValueError/RuntimeError for bad files and ops
            raise EdgecvError(f"LiteRT cannot load {path.name}: {str(exc).strip().splitlines()[0]}") from None
        self.inputs = [TensorInfo.from_spec(s) for s in self.model.inputs]
        self.outputs = [TensorInfo.from_spec(s) for s in self.model.outputs]

    def _infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.model.infer(feeds)

    def close(self) -> None:
        self.model = None
