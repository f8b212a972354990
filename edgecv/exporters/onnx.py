"""ONNX export: ``torch.onnx.export`` (dynamo, opset 21), simplified by onnxslim; fp16 by casting the
graph; int8 as static QDQ from ``onnxruntime.quantization`` calibrated on real images.

Choices that make int8 actually faster with onnxruntime on x86 (measured, see docs/export.md):
- uint8 activations with int8 per-channel weights (U8S8). Signed activations (S8S8) ran EfficientNet-B0
  at 3x the fp32 latency here; U8S8 is the fast MLAS path.
- Mean-over-H,W (how ``torch.onnx`` writes adaptive average pooling) becomes ``GlobalAveragePool``, which
  onnxruntime fuses into ``QLinearGlobalAveragePool``; a quantized ``ReduceMean`` runs in float between a
  dequantize and a quantize. That alone took EfficientNet-B0 int8 from 1.0x to about 0.8x of fp32.
- The post-processing tail (everything after the last Conv/Gemm: YOLO box decoding, softmax) stays float,
  so box coordinates are not rounded to 256 levels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._optional import import_optional
from ..artifact import METADATA_KEY, write_atomic
from ..errors import EdgecvError, UsageError
from .base import Exporter, ExportJob, first_line, of_op_types, quiet

OPSET = 21
_HEAVY = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


class OnnxExporter(Exporter):
    format = "onnx"
    suffix = ".onnx"
    default_layout = "NCHW"
    layouts = ("NCHW",)
    keeps_float = True
    calib_methods = ("minmax", "percentile", "entropy")  # onnxruntime.quantization's calibrators
    extra = "onnx"
    requires = ("onnx", "onnxscript", "onnxslim", "onnxruntime")

    def convert(self, job: ExportJob, precision: str, workdir: Path) -> Path:
        onnx = import_optional("onnx", "onnx")
        fp32 = self._fp32(job, workdir)
        out = workdir / f"{job.name}-{precision}.onnx"
        if precision == "fp32":
            return fp32
        if precision == "fp16":
            from onnxruntime.transformers.float16 import convert_float_to_float16

            model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=job.float_io)
            onnx.save(model, str(out))
            return out
        return self._int8(job, fp32, out)

    @classmethod
    def read_metadata_text(cls, path: Path) -> str | None:
        from ..portable.metadata import METADATA_KEY, onnx_metadata_props

        return onnx_metadata_props(path.read_bytes()).get(METADATA_KEY)

    def embed_metadata(self, src: Path, text: str, dst: Path) -> None:
        onnx = import_optional("onnx", "onnx")
        model = onnx.load(str(src))
        del model.metadata_props[:]
        onnx.helper.set_model_props(model, {METADATA_KEY: text})
        model.producer_name = "edgecv"
        write_atomic(dst, model.SerializeToString())

    # -- fp32 -------------------------------------------------------------------------------------
    def _fp32(self, job: ExportJob, workdir: Path) -> Path:
        if "onnx_fp32" in job.cache:
            return job.cache["onnx_fp32"]
        import torch

        onnx = import_optional("onnx", "onnx")
        onnxslim = import_optional("onnxslim", "onnx")
        import_optional("onnxscript", "onnx")  # the dynamo exporter needs it
        sample = torch.from_numpy(job.sample())
        dynamic = ({0: torch.export.Dim("batch", min=1, max=1024)},) if job.batch is None else None
        try:
            with quiet():
                program = torch.onnx.export(job.module.eval(), (sample,), dynamo=True, opset_version=OPSET,
                                            input_names=["input"], output_names=job.output_names,
                                            dynamic_shapes=dynamic, external_data=False, verbose=False)
        except Exception as exc:
            raise EdgecvError(f"ONNX export of {job.name} failed: {first_line(exc)}") from None
        paths = module_paths(program.model_proto)  # onnxslim drops the exporter's node metadata: read it first
        model = onnxslim.slim(program.model_proto)
        model = global_average_pool(model)
        name_by_module(model, paths)
        path = workdir / f"{job.name}-fp32.onnx"
        onnx.save(model, str(path))
        job.cache["onnx_fp32"] = path
        return path

    # -- int8 -------------------------------------------------------------------------------------
    def _int8(self, job: ExportJob, fp32: Path, out: Path) -> Path:
        return quantize_onnx(fp32, out, job.calibration_batches(), job.calib_method, job.reduce_range,
                             job.keep_float, job.name, job.float_ops)


def quantize_onnx(fp32: Path, out: Path, batches, method: str = "minmax", reduce_range: bool = False,
                  keep_float: tuple[str, ...] = (), name: str = "the model", float_ops: tuple[str, ...] = ()) -> Path:
    """Static QDQ int8 of an fp32 ONNX file (uint8 activations, per-channel int8 weights), calibrated on
    ``batches`` (NCHW arrays). The float tail after the last heavy op, the nodes named in ``keep_float`` and
    every node of an op type in ``float_ops`` stay in float. Used by the exporter and by ``edgecv layers``."""
    onnx = import_optional("onnx", "onnx")
    quant = import_optional("onnxruntime.quantization", "onnx", "onnxruntime")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out.with_name(out.stem + "-pre.onnx")
    with quiet():
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    model = onnx.load(str(pre))
    name_nodes(model)
    unknown = sorted(set(keep_float) - {n.name for n in model.graph.node})
    if unknown:
        raise UsageError(f"--keep-float names no node of {name}: {', '.join(unknown[:3])} (edgecv layers lists them)")
    keep_float = tuple(keep_float) + tuple(of_op_types([(n.op_type, n.name) for n in model.graph.node], float_ops, name))
    onnx.save(model, str(pre))
    input_name = model.graph.input[0].name
    batches = list(batches)
    if method != "minmax":
        _check_histogram_memory(model, len(batches), method, name)
    batches = iter(batches)

    class Reader(quant.CalibrationDataReader):
        def get_next(self):
            x = next(batches, None)
            return None if x is None else {input_name: x}

    calibrate = {"minmax": quant.CalibrationMethod.MinMax, "entropy": quant.CalibrationMethod.Entropy,
                 "percentile": quant.CalibrationMethod.Percentile}[method]
    try:
        with quiet():  # histogram calibrators print progress
            quant.quantize_static(
                str(pre), str(out), Reader(), quant_format=quant.QuantFormat.QDQ, per_channel=True,
                activation_type=quant.QuantType.QUInt8, weight_type=quant.QuantType.QInt8,
                calibrate_method=calibrate, nodes_to_exclude=float_tail(model) + list(dict.fromkeys(keep_float)),
                reduce_range=reduce_range)
    except Exception as exc:
        raise EdgecvError(f"int8 quantization of {name} failed: {first_line(exc)}") from None
    finally:
        pre.unlink(missing_ok=True)
    return out


def _check_histogram_memory(model, batches: int, method: str, name: str) -> None:
    """onnxruntime's percentile and entropy calibrators keep every activation of every calibration batch in
    memory before building histograms (EfficientNet-B0 at 224 px, 256 images: 24 GB, and the process was
    killed). Refuse, in one line, what this machine cannot hold."""
    from ..resources import available_bytes

    per_batch = 0
    for vi in model.graph.value_info:
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            per_batch += 4 * int(np.prod(dims))
    need, free = per_batch * batches, available_bytes()
    if free is not None and need > 0.8 * free:
        raise UsageError(f"{method} calibration of {name} keeps every activation of its {batches} calibration "
                         f"batches: about {need / 2**30:,.1f} GiB, and {free / 2**30:,.1f} GiB is free; use fewer "
                         "--calib-samples, a smaller --imgsz or --calib-method minmax")


def module_paths(model) -> dict[str, str]:
    """``{output tensor: PyTorch module path}`` for each node of a freshly exported graph, from the dynamo
    exporter's ``pkg.torch.onnx.name_scopes``: ``features.3.conv.2``, as ``edgecv layers`` names a TFLite layer
    (``tflite.module_path``). A convolution that took in its batch norm (onnxscript's FuseBatchNormIntoConv)
    carries the norm's scope; it is named after the convolution before it, as the TFLite converter names it."""
    import ast

    out = {}
    for node in model.graph.node:
        props = {p.key: p.value for p in node.metadata_props}
        try:
            scopes = ast.literal_eval(props.get("pkg.torch.onnx.name_scopes", "[]"))
        except (ValueError, SyntaxError):
            continue
        modules = [m for m in scopes[:-1] if isinstance(m, str) and m]  # the last scope is the op itself
        if not modules or not node.output:
            continue
        path = modules[-1]
        head, _, last = path.rpartition(".")
        classes = props.get("pkg.torch.onnx.class_hierarchy", "").split(",")  # ..., the module's class, the op
        if "FuseBatchNormIntoConv" in props.get("pkg.onnxscript.rewriter.rule_name", "") and last.isdigit() \
                and int(last) > 0 and len(classes) >= 2 and "BatchNorm" in classes[-2]:
            path = f"{head}.{int(last) - 1}" if head else str(int(last) - 1)
        out[node.output[0]] = path
    return out


def name_by_module(model, paths: dict[str, str]) -> None:
    """Each node named after its module path (``features.3.conv.2``; a second node of the same module gets
    ``/OpType``, a third ``/OpType_2``...): what ``edgecv layers`` prints and ``--keep-float`` matches, for ONNX
    as for TFLite. Nodes the simplifier made keep their names."""
    taken: set[str] = set()
    for node in model.graph.node:
        path = paths.get(node.output[0]) if node.output else None
        if path is None:
            taken.add(node.name)
            continue
        name, k = path, 1
        while name in taken:
            name = f"{path}/{node.op_type}" + (f"_{k}" if k > 1 else "")
            k += 1
        node.name = name
        taken.add(name)


def global_average_pool(model):
    """Rewrite ``ReduceMean(axes=[2, 3], keepdims=1)`` on 4-D tensors as ``GlobalAveragePool`` (same values)."""
    from onnx import helper, numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute:
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    nodes = list(model.graph.node)
    for i, node in enumerate(nodes):
        if node.op_type != "ReduceMean":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1:
            axes = consts.get(node.input[1])
        if attrs.get("keepdims", 1) != 1 or axes is None or sorted(int(a) % 4 for a in np.ravel(axes)) != [2, 3]:
            continue
        if any(int(a) < 0 for a in np.ravel(axes)) and not _rank4(model, node.input[0]):
            continue
        nodes[i] = helper.make_node("GlobalAveragePool", [node.input[0]], list(node.output), name=node.name)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def _rank4(model, name: str) -> bool:
    for vi in list(model.graph.value_info) + list(model.graph.input):
        if vi.name == name:
            return len(vi.type.tensor_type.shape.dim) == 4
    return False


def name_nodes(model) -> None:
    """Every node a unique name (the quantizer's node lists refer to them)."""
    seen = set()
    for k, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{k}"
        seen.add(node.name)


def float_tail(model) -> list[str]:
    """Names of the nodes after the last Conv/Gemm/MatMul (no heavy op downstream): kept in float."""
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    feeds_heavy: dict[str, bool] = {}
    for node in reversed(model.graph.node):  # graph nodes are in topological order
        feeds_heavy[node.name] = any(c.op_type in _HEAVY or feeds_heavy.get(c.name, False)
                                     for out in node.output for c in consumers.get(out, []))
    return [n.name for n in model.graph.node if n.op_type not in _HEAVY and not feeds_heavy[n.name]]

