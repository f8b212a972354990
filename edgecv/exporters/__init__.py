"""Exporters turn a PyTorch model into deployable files. Formats are looked up lazily by name, and a
third-party package adds one through the ``edgecv.exporters`` entry-point group."""

from __future__ import annotations

from ..plugins import Registry
from .base import PRECISIONS, Exporter, ExportJob

_REGISTRY = Registry("export format", "edgecv.exporters", {
    "onnx": "edgecv.exporters.onnx:OnnxExporter",
    "tflite": "edgecv.exporters.tflite:TFLiteExporter",
})


def exporter_names() -> list[str]:
    return _REGISTRY.names()


def get_exporter(name: str) -> Exporter:
    return _REGISTRY.load(name)()


def __getattr__(name: str):
    if name == "export":
        from .api import export

        return export
    raise AttributeError(name)


__all__ = ["PRECISIONS", "Exporter", "ExportJob", "export", "exporter_names", "get_exporter"]
