"""Open a session on an emulated board: the device script under qemu-user, in the environment
``edgecv.devices.emulation`` provisions. Timings under emulation say nothing about a Pi."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..devices import Device
from ..devices.emulation import Emulator, Log, _default_log
from ..errors import EdgecvError, MissingDependencyError
from .remote import RemoteSession


def open_emulated(device: Device, path: Path, runtime: str, threads: int | None,
                  log: Log = _default_log) -> RemoteSession:
    if shutil.which("unshare") is None:
        raise EdgecvError("emulation needs util-linux's unshare (apt install util-linux)")
    emulator = Emulator()
    package = {"onnxruntime": "onnxruntime", "litert": "ai-edge-litert"}[runtime]
    if package not in emulator.versions:
        extra = "onnx" if runtime == "onnxruntime" else "tflite"
        raise MissingDependencyError(f"the emulated {device.name} runs the host's own {package} version, and the host "
                                     f"has none: install it (pip install 'edgecv[{extra}]')")
    emulator.ensure(log)
    args = ["serve", str(Path(path).resolve()), "--runtime", runtime, *(["--threads", str(threads)] if threads else [])]
    return RemoteSession(emulator.command(device, args), emulator.env(), f"{device.name} (emulated)")
