"""The runtimes a board has (onnxruntime, ai_edge_litert or tflite_runtime, openvino), opened behind one small
interface: ``inputs``/``outputs`` specs and ``infer(feeds)`` on arrays already in the model's dtypes.
Also the affine (de)quantization of I/O with the file's own scale and zero point."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from .errors import DeviceError, one_line

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
               "tensor(uint8)": "uint8", "tensor(int8)": "int8", "tensor(uint16)": "uint16", "tensor(int16)": "int16",
               "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(uint32)": "uint32",
               "tensor(uint64)": "uint64", "tensor(bool)": "bool", "tensor(string)": "object"}


def ort_dtype(type_name: str) -> str:
    """onnxruntime's ``tensor(float)`` -> numpy's name; an unknown element type is refused, never guessed."""
    if type_name not in _ORT_DTYPES:
        raise DeviceError(f"inputs/outputs of type {type_name} are not supported")
    return _ORT_DTYPES[type_name]


def ort_shape(shape) -> list | None:
    """Fixed dims as ints, symbolic or unknown dims as None; None for an unknown rank."""
    return None if shape is None else [d if isinstance(d, int) and d >= 0 else None for d in shape]


def _spec(name, shape, dtype, scale=None, zero_point=0) -> dict:
    return {"name": name, "shape": ort_shape(shape),
            "dtype": str(np.dtype(dtype)), "scale": scale, "zero_point": int(zero_point)}


class OnnxModel:
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime as ort

        self.version = ort.__version__
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [_spec(a.name, a.shape, ort_dtype(a.type)) for a in self.session.get_inputs()]
        self.outputs = [_spec(a.name, a.shape, ort_dtype(a.type)) for a in self.session.get_outputs()]

    def infer(self, feeds: dict) -> list:
        try:
            return self.session.run(None, feeds)
        except Exception as exc:  # onnxruntime's own exception types (Fail, RuntimeException, ...)
            raise DeviceError(f"onnxruntime cannot run this model: {one_line(exc)}") from None


def litert_interpreter_module():
    """``ai_edge_litert.interpreter``, or ``tflite_runtime.interpreter`` where that is what a device has."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        from tflite_runtime import interpreter
    return interpreter


def litert_spec(name: str, d: dict) -> dict:
    scale, zero_point = d.get("quantization", (0.0, 0))
    shape = [int(s) for s in d.get("shape_signature", d["shape"])]
    return _spec(name, shape, d["dtype"], float(scale) if scale else None, zero_point)


def _unique_names(details: list) -> dict:
    """``name -> detail`` in the interpreter's order; a missing or repeated tensor name gets its index."""
    out = {}
    for d in details:
        name = d.get("name") or f"tensor_{d['index']}"
        out[name if name not in out else f"{name}_{d['index']}"] = d
    return out


def _natural(name: str) -> tuple:
    head = name.rstrip("0123456789")
    return (head, int(name[len(head):]) if name[len(head):] else -1)


class LiteRTModel:
    """I/O named by the file's first SignatureDef, or, for the many files that have none (older converters,
    most models in the wild), by the interpreter's own input/output details; set_tensor/invoke/get_tensor on
    those tensors (no extra layer)."""

    runtime = "litert"

    def __init__(self, path: Path, threads: int | None, xnnpack: bool = True) -> None:
        module = litert_interpreter_module()
        self.version = getattr(module, "__version__", None) or _package_version()
        options = {} if xnnpack else {  # XNNPACK is the default CPU delegate; this leaves builtin kernels only
            "experimental_op_resolver_type": module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
        with quiet_native_stderr():  # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate" here
            self.interpreter = module.Interpreter(model_path=str(path), num_threads=threads, **options)
            self.interpreter.allocate_tensors()
        signatures = self.interpreter.get_signature_list()
        self.signature = next(iter(signatures), None)
        if self.signature is not None:
            runner = self.interpreter.get_signature_runner(self.signature)
            ins, outs = runner.get_input_details(), runner.get_output_details()
            del runner  # it holds views of the interpreter's buffers, which would block a later resize
            out_names = sorted(outs, key=_natural)
        else:  # no signature: the subgraph's own tensors, named as the converter named them
            ins = _unique_names(self.interpreter.get_input_details())
            outs = _unique_names(self.interpreter.get_output_details())
            out_names = list(outs)
        self.inputs = [litert_spec(n, d) for n, d in ins.items()]
        self.outputs = [litert_spec(n, outs[n]) for n in out_names]
        self._in_index = {n: d["index"] for n, d in ins.items()}
        self._out_index = [outs[o["name"]]["index"] for o in self.outputs]
        self._shapes = {n: tuple(d["shape"]) for n, d in ins.items()}

    def infer(self, feeds: dict) -> list:
        it = self.interpreter
        if any(x.shape != self._shapes[n] for n, x in feeds.items()):  # a dynamic batch changed size
            for n, x in feeds.items():
                it.resize_tensor_input(self._in_index[n], list(x.shape))
            it.allocate_tensors()
            self._shapes = {n: x.shape for n, x in feeds.items()}
        try:
            for n, x in feeds.items():
                it.set_tensor(self._in_index[n], x)
            it.invoke()
            return [it.get_tensor(i) for i in self._out_index]
        except (RuntimeError, ValueError) as exc:  # a corrupt file often loads and fails only here
            raise DeviceError(f"LiteRT cannot run this model: {one_line(exc)}") from None


OPENVINO_HINTS = ("latency", "throughput")


def import_openvino():
    """``openvino``, without its usage telemetry: importing openvino (and NNCF) sends events to Intel unless a
    consent file in the home folder says no, and creates ``~/intel`` to record a client id. edgecv sends nothing
    anywhere, so it makes ``openvino_telemetry`` unimportable in its own process, where both fall back to their
    built-in stubs, before the first import (nothing is written to the user's home)."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # None in sys.modules: `import` raises ImportError
    import openvino

    return openvino


_OV_PRECISION = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "i8": "int8", "u8": "int8"}


def openvino_message(exc: BaseException) -> str:
    """OpenVINO's exceptions open with "Exception from src/...cpp:84:" and say what went wrong lines later: the
    first line that says something, one line."""
    lines = [line.strip().lstrip("- ").strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Exception from", "Check '", "Summary:"))
              and line != "Model wasn't fully converted."]
    if not useful:
        return one_line(lines[0] if lines else type(exc).__name__)
    # the cause is often last ("No conversion rule found for operations: com.example.FancyWarp")
    return one_line(useful[0] if len(useful) == 1 else f"{useful[0]} {useful[-1]}")


def _ov_spec(port) -> dict:
    """An OpenVINO model port as a spec: its tensor name, static dims as ints (dynamic as None)."""
    shape = port.get_partial_shape()
    dims = None if shape.rank.is_dynamic else [d.get_length() if d.is_static else None for d in shape]
    try:
        name = port.get_any_name()  # the ONNX tensor's name, as onnxruntime calls it
    except RuntimeError:  # a port with no name
        name = f"tensor_{port.get_index()}"
    return _spec(name, dims, port.get_element_type().to_dtype())


class OpenVINOModel:
    """An ONNX file or an OpenVINO IR (``.xml`` with its ``.bin`` beside it), compiled for one OpenVINO device
    (CPU, GPU, NPU) with a performance hint. ``execution`` says what the plugin chose: the precision it computes
    in (OpenVINO runs fp32 models in bf16 on CPUs with AMX or AVX-512 BF16 unless told not to), streams and the
    optimal number of requests. ``throughput`` runs that many requests at once, as benchmark_app does."""

    runtime = "openvino"

    def __init__(self, path: Path, threads: int | None, device: str = "CPU", hint: str = "latency",
                 precision: str | None = None) -> None:
        ov = import_openvino()

        if hint not in OPENVINO_HINTS:
            raise DeviceError(f"hint must be one of {', '.join(OPENVINO_HINTS)}, not {hint!r}")
        self.version = ov.get_version()
        core = ov.Core()
        device = device.upper()
        have = core.available_devices
        if not any(d == device or d.startswith(device + ".") for d in have):
            raise DeviceError(f"OpenVINO has no {device} device here (it has {', '.join(have) or 'none'})")
        config: dict = {"PERFORMANCE_HINT": hint.upper()}
        if threads and device == "CPU":
            config["INFERENCE_NUM_THREADS"] = int(threads)
        if precision:  # "f32" keeps an AMX CPU from computing an fp32 model in bf16
            config["INFERENCE_PRECISION_HINT"] = precision
        if path.suffix == ".xml":  # checked as edgecv reads it first: a DTD or another XML is refused in one line
            from .metadata import read_metadata_text  # its size limit before the bytes are read, then the parse

            try:
                read_metadata_text(path)
            except ValueError as exc:
                raise DeviceError(f"{path.name} is not a readable OpenVINO IR ({exc})") from None
        try:
            with quiet_native_stderr():  # its frontends print protobuf parse errors for files that are not theirs
                model = core.read_model(str(path))
            self.compiled = core.compile_model(model, device, config)
        except RuntimeError as exc:
            raise DeviceError(f"OpenVINO cannot load {path.name}: {openvino_message(exc)}") from None
        self.request = self.compiled.create_infer_request()
        self.inputs = [_ov_spec(p) for p in self.compiled.inputs]
        self.outputs = [_ov_spec(p) for p in self.compiled.outputs]
        self.execution = {"device": device, "hint": hint, "precision": self._property("INFERENCE_PRECISION_HINT"),
                          "streams": self._property("NUM_STREAMS"),
                          "requests": self._property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")}
        if isinstance(self.execution["precision"], str):
            self.execution["precision"] = _OV_PRECISION.get(self.execution["precision"], self.execution["precision"])

    def _property(self, name: str):
        try:
            value = self.compiled.get_property(name)
        except Exception:  # a device plugin that does not report it
            return None
        if hasattr(value, "get_type_name"):  # an element type (the inference precision)
            return value.get_type_name()
        try:
            return int(value)
        except (TypeError, ValueError):
            return str(value)

    def infer(self, feeds: dict) -> list:
        try:
            self.request.infer(feeds, share_inputs=True)
            return [self.request.get_output_tensor(k).data.copy() for k in range(len(self.outputs))]
        except Exception as exc:  # OpenVINO's RuntimeError for shapes and bad feeds
            raise DeviceError(f"OpenVINO cannot run this model: {openvino_message(exc)}") from None

    def throughput(self, feeds: dict, seconds: float, requests: int | None = None) -> float:
        """Inputs per second with ``requests`` (default: the plugin's optimal number) in flight for about
        ``seconds``: the figure the throughput hint is for."""
        import time

        ov = import_openvino()
        n = int(requests or self.execution.get("requests") or 1)
        queue = ov.AsyncInferQueue(self.compiled, n)
        batch = len(next(iter(feeds.values()))) if feeds else 1
        for _ in range(n):  # warm every request once
            queue.start_async(feeds)
        queue.wait_all()
        begin, started = time.perf_counter(), 0
        while time.perf_counter() - begin < seconds or started < n:
            queue.start_async(feeds)  # waits for a free request when all n are in flight
            started += 1
        queue.wait_all()
        return batch * started / (time.perf_counter() - begin)


class quiet_native_stderr:
    """Silence what native code writes to fd 2 (Python exceptions still propagate); EDGECV_VERBOSE=1 keeps it."""

    def __enter__(self):
        self.saved = None
        if os.environ.get("EDGECV_VERBOSE") != "1":
            try:
                sys.stderr.flush()
                self.saved = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            except OSError:
                self.saved = None

    def __exit__(self, *exc):
        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)


def _package_version() -> str | None:
    try:
        from importlib.metadata import version

        for name in ("ai-edge-litert", "tflite-runtime"):
            try:
                return version(name)
            except Exception:
                continue
    except ImportError:
        pass
    return None


def open_model(path: Path, runtime: str | None = None, threads: int | None = None):
    runtime = runtime or {".onnx": "onnxruntime", ".tflite": "litert", ".xml": "openvino"}.get(path.suffix)
    engines = {"onnxruntime": OnnxModel, "litert": LiteRTModel, "openvino": OpenVINOModel}
    if runtime not in engines:
        raise DeviceError(f"{path.name}: no runtime for {path.suffix or 'this file'} here (use .onnx, .tflite "
                          "or an OpenVINO .xml)")
    cls = engines[runtime]
    if threads is not None:  # more threads than cores hangs onnxruntime and crashes LiteRT: capped, never passed on
        if threads < 1:
            raise DeviceError(f"--threads must be at least 1, not {threads}")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        threads = min(threads, cores or 1)
    try:
        return cls(path, threads)
    except ImportError as exc:
        need = {"onnxruntime": "onnxruntime", "openvino": "openvino"}.get(runtime, "ai-edge-litert (or tflite-runtime)")
        raise DeviceError(f"{runtime} is not installed here ({exc}); pip install {need}") from None
    except DeviceError:
        raise
    except Exception as exc:
        raise DeviceError(f"{runtime} cannot load {path.name}: {str(exc).strip().splitlines()[0]}") from None


def quantize(x: np.ndarray, dtype, scale: float, zero_point: int) -> np.ndarray:
    """Float -> affine integer: ``round(x / scale) + zero_point``, clipped to ``dtype``; in place on one
    float32 buffer (twice as fast as the textbook expression, and what the host's sessions use too)."""
    limits = np.iinfo(dtype)
    q = np.divide(x, np.float32(scale), dtype=np.float32)
    np.rint(q, out=q)
    q += zero_point
    np.clip(q, limits.min, limits.max, out=q)
    return q.astype(dtype)


def dequantize(y: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)


def is_quantized(spec: dict) -> bool:
    return bool(spec["scale"]) and np.issubdtype(np.dtype(spec["dtype"]), np.integer)


def to_input(x: np.ndarray, spec: dict) -> np.ndarray:
    """Float input -> the model's input dtype (quantized with the file's own scale when it is int8/uint8)."""
    if is_quantized(spec):
        return quantize(x, np.dtype(spec["dtype"]), spec["scale"], spec["zero_point"])
    return x.astype(np.dtype(spec["dtype"]), copy=False)


def from_output(y: np.ndarray, spec: dict) -> np.ndarray:
    if is_quantized(spec):
        return dequantize(y, spec["scale"], spec["zero_point"])
    return y.astype(np.float32, copy=False)


def run_float(model, x: np.ndarray) -> dict:
    """Single-input model, float in, float out."""
    spec = model.inputs[0]
    outs = model.infer({spec["name"]: to_input(x, spec)})
    return {o["name"]: from_output(y, o) for o, y in zip(model.outputs, outs)}


def quantization_from_metadata(model, metadata: dict | None) -> None:
    """ONNX reports no quantization of its I/O; an edgecv artifact records it in the metadata."""
    for key in ("inputs", "outputs"):
        recorded = {t["name"]: t.get("quantization") for t in (metadata or {}).get(key, [])}
        for spec in getattr(model, key):
            q = recorded.get(spec["name"])
            if q and spec["scale"] is None:
                spec["scale"], spec["zero_point"] = float(q["scale"]), int(q["zero_point"])
