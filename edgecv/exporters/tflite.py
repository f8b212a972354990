"""TFLite export: ``litert-torch`` converts the module (no TensorFlow); ``ai-edge-quantizer`` makes the
fp16 (float16 weights), int8 (full-integer, calibrated on real images) and int8-dynamic variants.

The input is NHWC by default -- what camera pipelines on a device hand over -- by putting the transpose
inside the graph, where the converter folds it into the first convolution.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._optional import import_optional
from ..artifact import METADATA_KEY, sidecar_path, write_atomic
from ..errors import EdgecvError, UsageError
from ..resources import cores
from .base import Exporter, ExportJob, first_line, of_op_types, quiet
from .tflite_ranges import METHODS as RANGE_METHODS
from .tflite_ranges import activation_ranges

if TYPE_CHECKING:
    from torch import nn

_WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "CONV_2D_TRANSPOSE")
_HEAVY = set(_WEIGHT_OPS) | {"BATCH_MATMUL"}


def _signature_module(module: nn.Module, nhwc: bool, output_names: list[str]) -> nn.Module:
    """``module`` with the file's signature: its input called ``input`` (fed NHWC, the layout TFLite's kernels
    prefer, when ``nhwc``) and its outputs by their roles (``logits``; ``boxes``, ``scores``), the names the ONNX
    file has, instead of the converter's ``args_0`` / ``output_0``. The converter names a signature's inputs after
    the keyword arguments it is given and its outputs after a returned dict's keys. (torch is imported only when
    converting; the wrapper is one level above the model, as ``module_path`` expects.)"""
    import torch

    class Signature(torch.nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.module = inner

        def forward(self, input):  # noqa: A002  (the signature's input name)
            out = self.module(input.permute(0, 3, 1, 2) if nhwc else input)
            outs = out if isinstance(out, tuple) else (out,)
            return dict(zip(output_names, outs, strict=True))

    return Signature(module)


class TFLiteExporter(Exporter):
    format = "tflite"
    suffix = ".tflite"
    default_layout = "NHWC"
    layouts = ("NHWC", "NCHW")
    keeps_float = True
    widens = True  # ai-edge-quantizer's a16w8 per layer; the quantizer puts QUANTIZE ops at the int8/int16 seams
    precisions = ("fp32", "fp16", "int8", "int8-dynamic")
    calib_methods = RANGE_METHODS  # tflite_ranges.py: true min/max, percentile, ai-edge-quantizer's moving average
    dynamic_batch = False
    extra = "tflite"
    requires = ("litert_torch", "ai_edge_quantizer", "ai_edge_litert")

    def convert(self, job: ExportJob, precision: str, workdir: Path) -> Path:
        fp32 = self._fp32(job, workdir)
        if precision == "fp32":
            return fp32
        aeq = import_optional("ai_edge_quantizer", "tflite", "ai-edge-quantizer")
        from ai_edge_quantizer import algorithm_manager, quantizer

        q = quantizer.Quantizer(str(fp32))
        algo = algorithm_manager.AlgorithmName
        calibration = None
        if precision == "fp16":
            for op in _WEIGHT_OPS:
                q.add_weight_only_config(".*", op, 16, algorithm_key=algo.FLOAT_CASTING)
        elif precision == "int8-dynamic":
            q.load_quantization_recipe(aeq.recipe.dynamic_wi8_afp32())
        else:
            q.load_quantization_recipe(aeq.recipe.static_wi8_ai8())
            ops = _ops(fp32)
            tail = float_tail(ops) + with_readers(ops, kept_outputs(ops, job.keep_float, job.name))
            # --float-ops: every op of those types in float, without its readers: the quantizer puts
            # QUANTIZE/DEQUANTIZE at the seams, so the int8 ops around them stay int8
            tail += of_op_types([(op, out) for op, _, outs in ops for out in outs[:1]], job.float_ops, job.name)
            if tail:  # post-processing (YOLO box decoding) and --keep-float layers stay float; a scope is "out1;out2;"
                q.update_quantization_recipe(_scope(tail), "*", algorithm_key=algo.NO_QUANTIZE)
            if job.int16:  # int16 activations, int8 weights
                q.add_static_config(_scope(kept_outputs(ops, job.int16, job.name, "--int16")), "*",
                                    activation_num_bits=16, weight_num_bits=8)
            if job.float_io:
                for io_op in ("INPUT", "OUTPUT"):
                    q.update_quantization_recipe(".*", io_op, algorithm_key=algo.NO_QUANTIZE)
            signature, input_name = _signature(fp32)
            samples = [{input_name: self._layout(job, x)} for x in job.calibration_batches()]
            try:
                with quiet():
                    calibration = activation_ranges(q, fp32, signature, samples, job.calib_method, cores())
            except Exception as exc:
                raise EdgecvError(f"int8 calibration of {job.name} failed: {first_line(exc)}") from None
        out = workdir / f"{job.name}-{precision}.tflite"
        try:
            with quiet():
                q.quantize(calibration, enable_progress_report=False).export_model(str(out), overwrite=True)
        except Exception as exc:
            raise EdgecvError(f"{precision} quantization of {job.name} failed: {first_line(exc)}") from None
        return out

    @classmethod
    def read_metadata_text(cls, path: Path) -> str | None:
        from ..portable.metadata import read_metadata_text

        return read_metadata_text(path)  # the file's metadata table, else its sidecar

    def embed_metadata(self, src: Path, text: str, dst: Path) -> None:
        import_optional("ai_edge_litert", "tflite", "ai-edge-litert")
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils

        model = flatbuffer_utils.read_model_from_bytearray(bytearray(src.read_bytes()))
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(text.encode(), np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_KEY, len(model.buffers) - 1
        model.metadata = [m for m in (model.metadata or []) if m.name not in (METADATA_KEY, b"edgecv")] + [entry]
        write_atomic(dst, bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
        # Also beside the file, for tools that cannot read TFLite metadata.
        write_atomic(sidecar_path(dst), json.dumps(json.loads(text), indent=2).encode())

    # -----------------------------------------------------------------------------------------------
    def _fp32(self, job: ExportJob, workdir: Path) -> Path:
        if "tflite_fp32" in job.cache:
            return job.cache["tflite_fp32"]
        import torch

        with quiet():  # its import prints torchao's optional-kernel warnings
            litert_torch = import_optional("litert_torch", "tflite", "litert-torch")
        module = _signature_module(job.module.eval(), job.layout == "NHWC", list(job.output_names)).eval()
        sample = torch.from_numpy(self._layout(job, job.sample()))
        path = workdir / f"{job.name}-fp32.tflite"
        try:
            with quiet():
                litert_torch.convert(module, sample_kwargs={"input": sample}).export(str(path))
        except Exception as exc:
            raise EdgecvError(f"TFLite conversion of {job.name} failed: {first_line(exc)}") from None
        job.cache["tflite_fp32"] = path
        return path

    @staticmethod
    def _layout(job: ExportJob, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if job.layout == "NHWC" else x


def _interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path))


def _signature(path: Path) -> tuple[str, str]:
    signatures = _interpreter(path).get_signature_list()
    key = next(iter(signatures))
    return key, signatures[key]["inputs"][0]


def _ops(path: Path) -> list[tuple[str, list[str], list[str]]]:
    """``(op name, input tensor names, output tensor names)`` of the main graph, in execution order."""
    interp = _interpreter(path)
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    return [(op["op_name"], [names.get(i, "") for i in op["inputs"] if i >= 0],
             [names.get(i, "") for i in op["outputs"] if i >= 0])
            for op in interp._get_ops_details()]  # noqa: SLF001 -- the only op-level view LiteRT offers


def module_path(tensor: str) -> str:
    """A converter's tensor name (``NHWC/MobileNetV2_module/Sequential_features/ConvNormAct_0/Conv2d_0;1``,
    several joined by ``;;``) as the PyTorch module path it came from: ``features.0.0``. This is how
    ``edgecv layers`` names a TFLite layer and how ``--keep-float`` finds it."""
    parts = next((p for p in tensor.split(";;") if "Conv2d" in p or "Linear" in p), tensor.split(";;")[0])
    pieces = [piece.rsplit(".", 1)[-1] for piece in parts.split(";")[0].split("/")][2:]
    return ".".join(piece.split("_", 1)[1] if "_" in piece else piece for piece in pieces) or tensor[:60]


def _scope(outputs: list[str]) -> str:
    """An ai-edge-quantizer scope matching ops by their output tensors (a scope reads "out1;out2;")."""
    return "^(?:" + "|".join(re.escape(name) for name in outputs) + ");"


def kept_outputs(ops: list[tuple[str, list[str], list[str]]], keep: tuple[str, ...], name: str,
                 option: str = "--keep-float") -> list[str]:
    """Output-tensor names of every op of each module in ``keep`` (``--keep-float``, ``--int16``): a module path
    names the ops converted from that module and from the modules inside it (``features.4.block.2`` is a whole
    squeeze-excite: its mean, both convolutions and the multiplications of its hard sigmoid)."""
    paths = [(module_path(outs[0]), outs) for _, _, outs in ops if outs]
    chosen = {layer: [out for path, outs in paths if path == layer or path.startswith(layer + ".") for out in outs]
              for layer in keep}
    unknown = [layer for layer, outs in chosen.items() if not outs]
    if unknown:
        raise UsageError(f"{option} names no layer of {name}: {', '.join(unknown[:3])} (edgecv layers lists them)")
    return list(dict.fromkeys(out for outs in chosen.values() for out in outs))


def with_readers(ops: list[tuple[str, list[str], list[str]]], outputs: list[str]) -> list[str]:
    """``outputs`` and the outputs of every op that reads one of them. A layer kept in float still hands its
    consumers an int8 tensor when they are int8 (the quantizer requantizes it at the seam), so the activation
    error stays; with its readers in float too, the tensor itself stays float. Measured on EfficientNet-B0's
    TFLite int8 (held-out top-1, all-int8 97.45%): its 1 to 16 lowest-SQNR layers in float gave 97.45% every time
    without their readers, and 97.40-97.45% with them: B0's error is not in those layers either way."""
    wanted = set(outputs)
    readers = [out for _, inputs, outs in ops if wanted & set(inputs) for out in outs]
    return list(dict.fromkeys([*outputs, *readers]))


def float_tail(ops: list[tuple[str, list[str], list[str]]]) -> list[str]:
    """Output-tensor names of the ops after the last conv/fully-connected (no heavy op downstream)."""
    consumers: dict[str, list[int]] = {}
    for k, (_, inputs, _) in enumerate(ops):
        for name in inputs:
            consumers.setdefault(name, []).append(k)
    feeds_heavy = [False] * len(ops)
    for k in reversed(range(len(ops))):
        feeds_heavy[k] = any(ops[c][0] in _HEAVY or feeds_heavy[c] for out in ops[k][2] for c in consumers.get(out, []))
    return [out for k, (op, _, outs) in enumerate(ops) if op not in _HEAVY and not feeds_heavy[k] for out in outs]
