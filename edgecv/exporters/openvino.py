"""OpenVINO IR export: the fp32 ONNX graph (the ONNX exporter's, so node names are module paths here too) read by
OpenVINO's ONNX frontend and saved as IR (``.xml`` graph + ``.bin`` weights, one artifact); fp16 compresses the
weights to half (OpenVINO computes in the device's own precision either way); int8 is NNCF's post-training
quantization (``nncf.quantize`` with its default preset for CNNs, ``performance``: symmetric int8 weights and
activations) on the same calibration images as the other formats. The ``mixed`` preset (asymmetric activations)
was measured beside it on MobileNetV2 at 64 px: 93.10 against 93.60 top-1 on 1000 val images, the same latency.
The edgecv metadata is stored in the IR's ``rt_info`` under ``edgecv``.

``core.read_model`` of the ONNX file is what ``openvino.convert_model`` does for an ONNX path (the same frontend),
without the converter's module, which sends usage telemetry on import.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import EdgecvError
from ..portable.engines import import_openvino
from .base import Exporter, ExportJob, first_line, quiet


class OpenVINOExporter(Exporter):
    format = "openvino"
    suffix = ".xml"
    default_layout = "NCHW"
    layouts = ("NCHW",)
    precisions = ("fp32", "fp16", "int8")
    calib_methods = ("minmax",)  # NNCF's default statistics (min/max of activations, per-channel weights)
    extra = "openvino"
    requires = ("openvino", "nncf", "onnx", "onnxscript", "onnxslim", "onnxruntime")  # the ONNX exporter makes fp32

    @classmethod
    def owns(cls, path: Path) -> bool:
        """An ``.xml`` is an IR only if it is a ``<net>`` (a folder of reports holds junit.xml too)."""
        from ..portable.metadata import is_openvino_ir

        try:
            with open(path, "rb") as f:
                return is_openvino_ir(f.read(512))
        except OSError:
            return False

    def convert(self, job: ExportJob, precision: str, workdir: Path) -> Path:
        from .onnx import OnnxExporter

        ov = import_openvino()
        onnx_fp32 = OnnxExporter()._fp32(job, workdir)
        out = workdir / f"{job.name}-{precision}-ov.xml"
        try:
            model = ov.Core().read_model(str(onnx_fp32))
        except Exception as exc:
            raise EdgecvError(f"OpenVINO could not read the ONNX graph of {job.name}: {first_line(exc)}") from None
        if precision == "int8":
            model = self._int8(job, model)
        ov.save_model(model, str(out), compress_to_fp16=precision == "fp16")
        return out

    def _int8(self, job: ExportJob, model):
        import_openvino()
        try:
            import nncf
        except ImportError as exc:
            raise EdgecvError(f"int8 OpenVINO export needs nncf ({exc}); pip install 'edgecv[openvino]'") from None
        input_name = model.inputs[0].get_any_name()
        batches = [{input_name: x} for x in job.calibration_batches()]
        try:
            with quiet():
                return nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches) or 1)
        except Exception as exc:
            raise EdgecvError(f"int8 quantization of {job.name} with NNCF failed: {first_line(exc)}") from None

    @classmethod
    def read_metadata_text(cls, path: Path) -> str | None:
        from ..portable.metadata import read_metadata_text

        return read_metadata_text(path)

    def embed_metadata(self, src: Path, text: str, dst: Path) -> None:
        """The IR with ``rt_info["edgecv"] = text``, written as ``dst`` (.xml) and its ``.bin``: both through
        temporary files and renames, the weights first, so a reader never sees an .xml without its weights."""
        from ..artifact import METADATA_KEY

        ov = import_openvino()
        model = ov.Core().read_model(str(src))
        model.set_rt_info(text, METADATA_KEY)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dst.stem}.", dir=dst.parent))
        try:
            staged = tmp / dst.name
            # keep the weights as they are: fp16 ones were compressed when the file was made
            ov.save_model(model, str(staged), compress_to_fp16=False)
            os.replace(staged.with_suffix(".bin"), dst.with_suffix(".bin"))
            os.replace(staged, dst)
        except OSError as exc:
            raise EdgecvError(f"cannot write {dst}: {exc.strerror or exc}") from None
        finally:
            for p in tmp.glob("*"):
                p.unlink(missing_ok=True)
            tmp.rmdir()
