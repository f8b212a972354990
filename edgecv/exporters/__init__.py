"""Exporters turn a PyTorch model into deployable files. Formats are looked up lazily by name, and a
third-party package adds one through the ``edgecv.exporters`` entry-point group."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from ..errors import UsageError
from .base import PRECISIONS, Exporter, ExportJob

_BUILTIN = {
    "onnx": "edgecv.exporters.onnx:OnnxExporter",
    "tflite": "edgecv.exporters.tflite:TFLiteExporter",
}


def exporter_names() -> list[str]:
    return sorted({*_BUILTIN, *(ep.name for ep in entry_points(group="edgecv.exporters"))})


def get_exporter(name: str) -> Exporter:
    target = _BUILTIN.get(name)
    if target is None:
        found = [ep for ep in entry_points(group="edgecv.exporters") if ep.name == name]
        if not found:
            raise UsageError(f"unknown export format {name!r} (available: {', '.join(exporter_names())})")
        return found[0].load()()
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


def __getattr__(name: str):
    if name == "export":
        from .api import export

        return export
    raise AttributeError(name)


__all__ = ["PRECISIONS", "Exporter", "ExportJob", "export", "exporter_names", "get_exporter"]
