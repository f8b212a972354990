"""Where a session runs: this machine, or a device reached over SSH or under emulation.

The one place that joins ``edgecv.devices`` (what a machine is) to the runtimes (how a model is opened):
devices never import runtimes, and a new way to reach a board is one branch here plus its own module.
"""

from __future__ import annotations

from pathlib import Path

from ..devices import Device
from ..errors import UsageError
from .remote import RemoteSession


def open_on_device(device: Device, path: Path, runtime: str, threads: int | None) -> RemoteSession:
    """A session running ``path`` with ``runtime`` on a remote ``device`` through the device script."""
    if device.reach == "ssh":
        from .ssh import open_over_ssh

        return open_over_ssh(device, path, runtime, threads)
    if device.reach == "emulated":
        from .emulated import open_emulated

        return open_emulated(device, path, runtime, threads)
    raise UsageError(f"device {device.name} has neither [ssh] host nor [emulation] in {device.file}")
