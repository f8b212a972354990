"""What machine a number was measured on: CPU model, cores, runtime and library versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

SCRIPT_VERSION = 1


def cpuinfo() -> dict:
    """``/proc/cpuinfo`` as ``{lower-case key: value}`` (first occurrence; empty where there is none)."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The board (Pi: "Model"), else the CPU's name, else the ARM part number."""
    fields = cpuinfo()
    for key in ("model", "model name", "hardware", "cpu part"):
        value = fields.get(key, "")
        if value and not (key == "model" and value.isdigit()):  # x86 lists "model : 1", a family number
            return value
    return platform.processor() or platform.machine()


def environment(model) -> dict:
    return {"script_version": SCRIPT_VERSION, "python": platform.python_version(), "machine": platform.machine(),
            "cpu": cpu_model(), "cores": os.cpu_count(), "runtime": model.runtime,
            "runtime_version": model.version, "numpy": np.__version__}
