"""Quantize an exported fp32 file again, as its int8 export did but with other choices (calibration method,
layers kept in float): what ``edgecv layers --float-accuracy`` and the ``--max-drop`` search build on.

ONNX goes through ``exporters.onnx.quantize_onnx``; TFLite through the TFLite exporter itself, handed the
fp32 file as its already-converted graph. With the recorded choices this reproduces the exported int8 file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError


def requantize(fp32: Path, out: Path, meta: dict[str, Any], calib: np.ndarray, method: str,
               keep: tuple[str, ...], int16: tuple[str, ...] = (), float_ops: tuple[str, ...] = ()) -> Path:
    """Write ``out``: ``fp32`` quantized to int8 with ``method``, ``keep`` in float and ``int16`` with int16
    activations (TFLite), calibrated on ``calib`` (preprocessed images, NCHW), carrying ``meta`` (the int8
    file's metadata)."""
    cal = meta.get("calibration") or {}
    name = meta.get("model", "the model")
    batches = (calib[i:i + 1] for i in range(len(calib)))
    if fp32.suffix == ".onnx":
        if int16:
            raise UsageError("int16 activations are a TFLite option: onnxruntime has no int16 kernels to run them")
        from ..exporters.onnx import OnnxExporter, quantize_onnx

        built = quantize_onnx(fp32, out.with_name(out.stem + "-q.onnx"), batches, method,
                              bool(cal.get("reduce_range")), keep, name, float_ops)
        OnnxExporter().embed_metadata(built, json.dumps(meta), out)
        return out
    if fp32.suffix == ".tflite":
        from ..exporters.base import ExportJob
        from ..exporters.tflite import TFLiteExporter
        from ..preprocess import Preprocess

        pre = Preprocess.from_dict(meta["preprocess"])
        job = ExportJob(module=None, name=name, task=meta["task"], imgsz=pre.input_size,  # type: ignore[arg-type]
                        channels=pre.channels, batch=1, layout=pre.layout,
                        output_names=[o["name"] for o in meta.get("outputs", [])], calibration=calib,
                        calib_method=method, keep_float=keep, int16=int16, float_ops=float_ops,
                        cache={"tflite_fp32": fp32})
        built = TFLiteExporter().convert(job, "int8", out.parent)
        TFLiteExporter().embed_metadata(built, json.dumps(meta), out)
        return out
    raise UsageError(f"cannot re-quantize {fp32.name}: only .onnx and .tflite files")


__all__ = ["requantize"]
