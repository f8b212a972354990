"""Where a profile was measured: CPU and ISA, cores and threads, OS, Python and package versions, GPU."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

PACKAGES = ("edgecv", "numpy", "torch", "onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "tflite-runtime",
            "litert-torch", "ai-edge-quantizer", "onnx", "openvino", "nncf")


def environment(threads: int | None = None) -> dict[str, Any]:
    from ..devices import get_device

    host = get_device("host")
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return {"cpu": host.cpu, "arch": host.arch, "isa": host.isa, "cores": host.cores, "threads": threads,
            "memory_gb": host.memory_gb, "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "packages": versions, "gpu": _gpu()}


def _gpu() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return None
