"""Exporters turn a PyTorch model into deployable files. Formats are looked up lazily by name, and a
third-party package adds one through the ``edgecv.exporters`` entry-point group."""

from __future__ import annotations

from ..formats import exporter_class, format_names, precisions
from .base import Exporter, ExportJob


def exporter_names() -> list[str]:
    return format_names()


def get_exporter(name: str) -> Exporter:
    return exporter_class(name)()


def __getattr__(name: str):
    if name == "export":
        from .api import export

        return export
    raise AttributeError(name)


__all__ = ["Exporter", "ExportJob", "export", "exporter_names", "get_exporter", "precisions"]
