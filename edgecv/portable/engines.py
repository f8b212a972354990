"""The runtimes a board has (onnxruntime, ai_edge_litert or tflite_runtime), opened behind one small
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
    runtime = runtime or {".onnx": "onnxruntime", ".tflite": "litert"}.get(path.suffix)
    if runtime not in ("onnxruntime", "litert"):
        raise DeviceError(f"{path.name}: no runtime for {path.suffix or 'this file'} here (use .onnx or .tflite)")
    cls = OnnxModel if runtime == "onnxruntime" else LiteRTModel
    if threads is not None:  # more threads than cores hangs onnxruntime and crashes LiteRT: capped, never passed on
        if threads < 1:
            raise DeviceError(f"--threads must be at least 1, not {threads}")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        threads = min(threads, cores or 1)
    try:
        return cls(path, threads)
    except ImportError as exc:
        need = "onnxruntime" if runtime == "onnxruntime" else "ai-edge-litert (or tflite-runtime)"
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
