"""OpenVINO: ONNX files and OpenVINO IR (``.xml`` + ``.bin``) on an OpenVINO device -- ``cpu`` (any x86 or ARM
CPU), and ``gpu`` / ``npu`` where the machine has them (``edgecv runtimes`` lists what is here).

The core call is the device script's own ``OpenVINOModel`` (portable/engines.py), so the host runs a file as a
board does. Options: ``hint`` (``latency``, the default: one stream, the p50 of one request; ``throughput``:
the plugin's streams, and the row's img/s from its optimal number of requests in flight, as benchmark_app
measures it) and ``precision`` (``f32`` keeps a CPU with AMX or AVX-512 BF16 from running an fp32 model in
bf16, which OpenVINO does by default). What the plugin chose -- the precision it computes in, streams,
requests -- is the session's ``execution``, recorded in every profile row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgecvError, MissingDependencyError, UsageError
from ..model_files import ir_weights
from ..portable.engines import OPENVINO_HINTS, OpenVINOModel, import_openvino
from ..portable.errors import DeviceError, one_line
from .runtime import Runtime
from .session import Session, TensorInfo

PRECISIONS = ("f32", "bf16", "f16")


class OpenVINO(Runtime):
    name = "openvino"
    suffixes = (".onnx", ".xml")
    providers = ("cpu", "gpu", "npu")  # OpenVINO's device plugins
    requires = ("openvino",)
    install = "pip install 'edgecv[openvino]'"
    on_device = True  # the device script runs it where a board has openvino installed
    default_on_boards = False  # the emulated Pis have onnxruntime and LiteRT; a board profiles it with --runtime

    def available_providers(self) -> list[str]:
        if not self.available()[0]:
            return []
        try:
            have = import_openvino().Core().available_devices  # "CPU", "GPU.0", "NPU"
        except Exception:
            return []
        return [p for p in self.providers if any(d.split(".")[0] == p.upper() for d in have)]

    def _open(self, path: Path, provider: str, threads: int | None, hint: str = "latency",
              precision: str | None = None) -> Session:
        return OpenVINOSession(path, provider, threads, hint, precision)


class OpenVINOSession(Session):
    def __init__(self, path: Path, provider: str = "cpu", threads: int | None = None, hint: str = "latency",
                 precision: str | None = None) -> None:
        if hint not in OPENVINO_HINTS:
            raise UsageError(f"hint must be one of {', '.join(OPENVINO_HINTS)}, not {hint!r}")
        if precision is not None and precision not in PRECISIONS:
            raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if path.suffix == ".xml" and not ir_weights(path).is_file():
            raise UsageError(f"{path.name}: its weights {ir_weights(path).name} are not beside it")
        try:
            self.model = OpenVINOModel(path, threads, provider.upper(), hint, precision)
        except ImportError as exc:
            raise MissingDependencyError(f"OpenVINO is not installed ({exc}); {OpenVINO.install}") from None
        except DeviceError as exc:  # names the file already
            raise EdgecvError(str(exc)) from None
        except Exception as exc:  # OpenVINO raises RuntimeError for bad files and unsupported ops
            raise EdgecvError(f"OpenVINO cannot load {path.name}: {one_line(exc)}") from None
        self.inputs = [TensorInfo.from_spec(s) for s in self.model.inputs]
        self.outputs = [TensorInfo.from_spec(s) for s in self.model.outputs]
        self.execution = dict(self.model.execution)

    def _infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.model.infer(feeds)

    def throughput(self, feeds: dict[str, np.ndarray], seconds: float) -> float | None:
        """Inputs per second with the plugin's optimal number of requests in flight (throughput hint only)."""
        if self.execution.get("hint") != "throughput":
            return None
        return self.model.throughput(feeds, seconds)

    def close(self) -> None:
        self.model = None
