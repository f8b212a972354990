"""onnxruntime: one runtime, three providers (cpu, cuda, tensorrt).

Options: ``graph_optimization`` (disable, basic, extended, all), ``io_binding`` (GPU providers: inputs are
bound from host memory and outputs come back through one copy; on by default there), ``cuda_graph``
(capture the whole graph once and replay it; needs fixed input shapes), ``device_id`` and ``allow_spinning``
(False: idle pool threads sleep instead of spinning).
A GPU provider that onnxruntime cannot start is an error, never a silent fall-back to the CPU.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .._optional import import_optional
from ..cache import cache_dir
from ..errors import EdgecvError, MissingDependencyError, UsageError
from ..portable.engines import ort_dtype, ort_shape
from ..portable.errors import DeviceError
from .runtime import Runtime
from .session import Session, TensorInfo

_EP = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
_LEVELS = ("disable", "basic", "extended", "all")


def _info(arg) -> TensorInfo:
    shape = ort_shape(arg.shape)
    return TensorInfo(arg.name, None if shape is None else tuple(shape), np.dtype(ort_dtype(arg.type)))


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    suffixes = (".onnx",)
    providers = ("cpu", "cuda", "tensorrt")
    requires = ("onnxruntime",)
    install = "pip install 'edgecv[onnx]' (or 'edgecv[cuda]' for the GPU build)"
    on_device = True

    def available_providers(self) -> list[str]:
        if not self.available()[0]:
            return []
        import onnxruntime as ort

        have = set(ort.get_available_providers())
        return [p for p in self.providers if _EP[p] in have]

    def _open(self, path: Path, provider: str, threads: int | None, graph_optimization: str = "all",
              io_binding: bool | None = None, cuda_graph: bool = False, device_id: int = 0,
              allow_spinning: bool | None = None) -> Session:
        return OnnxRuntimeSession(path, provider, threads, graph_optimization, io_binding, cuda_graph, device_id,
                                  allow_spinning)


def _provider_list(provider: str, device_id: int, cuda_graph: bool, path: Path) -> list:
    cuda = ("CUDAExecutionProvider", {"device_id": str(device_id), "enable_cuda_graph": "1" if cuda_graph else "0"})
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    if provider == "cuda":
        return [cuda, "CPUExecutionProvider"]
    engines = cache_dir("tensorrt") / path.stem  # built engines are reused across runs of the same file
    engines.mkdir(parents=True, exist_ok=True)
    trt = ("TensorrtExecutionProvider", {"device_id": str(device_id), "trt_engine_cache_enable": "True",
                                         "trt_engine_cache_path": str(engines)})
    return [trt, cuda, "CPUExecutionProvider"]


class OnnxRuntimeSession(Session):
    def __init__(self, path: Path, provider: str = "cpu", threads: int | None = None,
                 graph_optimization: str = "all", io_binding: bool | None = None, cuda_graph: bool = False,
                 device_id: int = 0, allow_spinning: bool | None = None) -> None:
        ort = import_optional("onnxruntime", "onnx")
        if graph_optimization not in _LEVELS:
            raise UsageError(f"graph_optimization must be one of {', '.join(_LEVELS)}, not {graph_optimization!r}")
        if provider == "cpu" and (cuda_graph or io_binding):
            raise UsageError("io_binding and cuda_graph apply to the cuda and tensorrt providers only")
        if _EP[provider] not in ort.get_available_providers():
            raise MissingDependencyError(
                f"this onnxruntime has no {_EP[provider]} (it has {', '.join(ort.get_available_providers())}); "
                "install onnxruntime-gpu (pip install 'edgecv[cuda]') on a machine with an NVIDIA GPU")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        if allow_spinning is not None:  # idle pool threads spin (onnxruntime's default) or sleep
            options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
        options.log_severity_level = 3
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
                                         "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}[graph_optimization])
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=_provider_list(provider, device_id, cuda_graph, path))
        except Exception as exc:  # onnxruntime raises its own exception types for bad files and missing ops
            op = re.search(r"(\S+?)\(-?\d+\) is not a registered function/op", str(exc))
            if op:
                raise EdgecvError(f"{path.name} uses an operator onnxruntime does not have: {op.group(1)}") from None
            raise EdgecvError(f"onnxruntime cannot load {path.name}: {_first_line(exc)}") from None
        active = self.session.get_providers()[0]
        if active != _EP[provider]:
            raise EdgecvError(f"onnxruntime could not start {_EP[provider]} for {path.name} (it fell back to "
                              f"{active}); check the CUDA/TensorRT libraries")
        try:
            self.inputs = [_info(a) for a in self.session.get_inputs()]
            self.outputs = [_info(a) for a in self.session.get_outputs()]
        except DeviceError as exc:
            raise EdgecvError(f"{path.name}: {exc}") from None
        self._binding = None
        if provider != "cpu" and (io_binding or io_binding is None or cuda_graph):
            self._binding = _Binding(ort, self.session, self.inputs, self.outputs, device_id, cuda_graph)

    def _infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self._binding is not None:
            return self._binding.run(feeds)
        return self.session.run(None, feeds)

    def close(self) -> None:
        self._binding = None
        self.session = None


class _Binding:
    """IO binding on the GPU. With CUDA graphs, inputs and outputs live at fixed device addresses: each
    call copies the new inputs in place and replays the captured graph."""

    def __init__(self, ort: Any, session: Any, inputs: list[TensorInfo], outputs: list[TensorInfo],
                 device_id: int, cuda_graph: bool) -> None:
        self.ort, self.session, self.device_id, self.cuda_graph = ort, session, device_id, cuda_graph
        self.binding = session.io_binding()
        self.output_names = [o.name for o in outputs]
        self.fixed: dict[str, Any] = {}
        if cuda_graph:
            if any(d is None for t in [*inputs, *outputs] for d in t.shape):
                raise UsageError("CUDA graphs need fixed shapes; export with a fixed --batch")
            for t in inputs:
                self.fixed[t.name] = ort.OrtValue.ortvalue_from_shape_and_type(list(t.shape), t.dtype, "cuda", device_id)
                self.binding.bind_ortvalue_input(t.name, self.fixed[t.name])
            self.out_values = [ort.OrtValue.ortvalue_from_shape_and_type(list(t.shape), t.dtype, "cuda", device_id)
                               for t in outputs]
            for t, value in zip(outputs, self.out_values):
                self.binding.bind_ortvalue_output(t.name, value)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self.cuda_graph:
            for name, x in feeds.items():
                self.fixed[name].update_inplace(np.ascontiguousarray(x))
            self.session.run_with_iobinding(self.binding)
            return [v.numpy() for v in self.out_values]
        for name, x in feeds.items():
            self.binding.bind_cpu_input(name, np.ascontiguousarray(x))
        for name in self.output_names:
            self.binding.bind_output(name, "cuda", self.device_id)
        self.session.run_with_iobinding(self.binding)
        return self.binding.copy_outputs_to_cpu()


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
