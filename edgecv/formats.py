"""Export formats, from the one table that knows them: the exporters' registry.

Each ``Exporter`` class declares its ``format``, ``suffix``, ``default_layout``, ``layouts`` and
``precisions``; everything else (file names, which files a folder holds, reading a file's metadata, the
profile's formats and precisions) asks here. A format added through the ``edgecv.exporters`` entry point is
therefore known everywhere at once. The classes are imported lazily by name (``"module:Class"``), and
importing one needs neither torch nor a converter.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .plugins import Registry

if TYPE_CHECKING:
    from .exporters.base import Exporter

EXPORTERS = Registry("export format", "edgecv.exporters", {
    "onnx": "edgecv.exporters.onnx:OnnxExporter",
    "tflite": "edgecv.exporters.tflite:TFLiteExporter",
    "openvino": "edgecv.exporters.openvino:OpenVINOExporter",
})
REFERENCE = "pytorch"  # the PyTorch reference rows of a profile: a format name, though nothing is exported
REFERENCE_RUNTIME = "torch"
DEFAULT_PRECISIONS = ("fp32", "fp16", "int8")  # what a profile measures unless told


def format_names() -> list[str]:
    """Every export format: the built-ins, then plugins."""
    return EXPORTERS.names()


def exporter_class(fmt: str) -> type[Exporter]:
    return EXPORTERS.load(fmt)


def suffix_of(fmt: str) -> str:
    return exporter_class(fmt).suffix


@lru_cache(maxsize=1)
def suffixes() -> dict[str, str]:
    """``{".onnx": "onnx", ".tflite": "tflite", ...}`` for every format whose class loads (read once per process:
    listing the entry points scans every installed package's metadata)."""
    return {exporter_class(f).suffix: f for f in format_names()}


def format_of(path: str | Path) -> str | None:
    """The format of a model file, by its suffix; None for anything else."""
    return suffixes().get(Path(path).suffix)


def owned(path: str | Path) -> bool:
    """Whether a file is a model file of the format its suffix names (an ``.xml`` that is not an IR is not)."""
    fmt = format_of(path)
    return fmt is not None and exporter_class(fmt).owns(Path(path))


def precisions() -> tuple[str, ...]:
    """Every precision some format exports, in a stable order."""
    seen: dict[str, None] = {}
    for fmt in format_names():
        seen.update(dict.fromkeys(exporter_class(fmt).precisions))
    return tuple(seen)


def calib_methods() -> tuple[str, ...]:
    """Every int8 calibration method some format offers (each exporter's ``calib_methods``), in a stable order."""
    seen: dict[str, None] = {}
    for fmt in format_names():
        seen.update(dict.fromkeys(exporter_class(fmt).calib_methods))
    return tuple(seen)


__all__ = ["DEFAULT_PRECISIONS", "EXPORTERS", "REFERENCE", "REFERENCE_RUNTIME", "calib_methods", "exporter_class",
           "format_names", "format_of", "owned", "precisions", "suffix_of", "suffixes"]
