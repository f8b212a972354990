"""Runtimes run exported artifacts: one ``Session`` interface, one small module per runtime.

Built-ins are onnxruntime (providers cpu, cuda, tensorrt), litert, openvino (cpu, gpu, npu) and torch (the PyTorch reference); a
third-party package adds one through the ``edgecv.runtimes`` entry-point group with a ``Runtime`` subclass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..plugins import Registry
from .runtime import Runtime
from .session import Session, TensorInfo, predictor

_REGISTRY = Registry("runtime", "edgecv.runtimes", {
    "onnxruntime": "edgecv.runtimes.onnxruntime:OnnxRuntime",
    "litert": "edgecv.runtimes.litert:LiteRT",
    "openvino": "edgecv.runtimes.openvino:OpenVINO",
    "torch": "edgecv.runtimes.torch:TorchRuntime",
})


def runtime_names() -> list[str]:
    return _REGISTRY.names()


def get_runtime(name: str) -> Runtime:
    return _REGISTRY.load(name)()


def runtime_for(target: str | Path) -> str:
    """The default runtime for a file (by suffix); zoo names and checkpoints run on torch."""
    suffix = Path(str(target)).suffix
    for name in runtime_names():
        if suffix and suffix in get_runtime(name).suffixes:
            return name
    if suffix in ("", ".pt", ".pth", ".safetensors", ".py") or ":" in str(target):
        return "torch"
    raise UsageError(f"no runtime opens {Path(str(target)).name} (runtimes: {', '.join(runtime_names())})")


def load(path: Any, runtime: str | None = None, provider: str | None = None, device: Any = None,
         threads: int | None = None, facts: Any = None, **options: Any) -> Session:
    """Open a model to run: ``edgecv.load("m.tflite").run(x)`` -> ``{output name: array}``.

    ``path`` is an ``.onnx``/``.tflite`` file (or an ``Artifact``), or for the torch runtime a zoo name or a
    checkpoint. ``device`` is a profile name (``host``, ``rpi4``, ``rpi5``) or a profile ``.toml`` file.
    ``facts`` (``interop.Facts``) states what a file made by another tool does not say."""
    target = getattr(path, "path", path)
    return get_runtime(runtime or runtime_for(target)).open(path, device, provider, threads, facts, **options)


__all__ = ["Runtime", "Session", "TensorInfo", "get_runtime", "load", "predictor", "runtime_for", "runtime_names"]
