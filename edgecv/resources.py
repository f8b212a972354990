"""What a machine can give a command: its cores and its free memory, checked before work starts."""

from __future__ import annotations

import os
import sys

from .errors import UsageError
from .portable.memory import (  # noqa: F401  (the one estimate; re-exported)
    IMAGE_BYTES_PER_PIXEL,
    NETWORK_BYTES_PER_PIXEL,
    OutOfMemory,
    available_bytes,
    check_fits,
)

_warned: set[tuple[int, int, str]] = set()


def cores(device=None) -> int:
    """The cores a device has (its profile's ``cores``), or those this process may use here."""
    if device is not None and not getattr(device, "is_local", True) and getattr(device, "cores", None):
        return int(device.cores)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cap_threads(threads: int | None, device=None) -> int | None:
    """``threads`` capped at the device's cores, with one warning line: a runtime asked for 100000 threads
    spends minutes and gigabytes creating them."""
    if threads is None:
        return None
    if threads < 1:
        raise UsageError(f"--threads must be at least 1, not {threads}")
    limit = cores(device)
    if threads > limit:
        name = getattr(device, "name", "host")
        if (threads, limit, name) not in _warned:
            _warned.add((threads, limit, name))
            print(f"edgecv: warning: --threads {threads} is more than the {limit} cores of {name}; using {limit}",
                  file=sys.stderr)
        return limit
    return threads


def check_memory(what: str, images: int, height: int, width: int | None = None,
                 bytes_per_pixel: int = NETWORK_BYTES_PER_PIXEL, hint: str = "use a smaller --imgsz") -> None:
    """Refuse, before starting, work whose rough memory need exceeds what this machine has free."""
    try:
        check_fits(what, images * height * (width or height) * bytes_per_pixel, hint)
    except OutOfMemory as exc:
        raise UsageError(str(exc)) from None


def read_limited(path, what: str, max_bytes: int, binary: bool = False):
    """A regular file's text (or bytes), refused in one line when it is not a regular file (``/dev/zero``, a
    FIFO, a folder) or is larger than ``max_bytes``: reading it must never run this machine out of memory."""
    import stat
    from pathlib import Path

    path = Path(path)
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"{what} {path} is not a regular file")
            if st.st_size > max_bytes:
                raise UsageError(f"{what} {path} is {st.st_size / 2**20:,.0f} MiB; more than the {max_bytes / 2**20:,.0f} "
                                 "MiB such a file can be")
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise UsageError(f"{what} {path} grew past {max_bytes / 2**20:,.0f} MiB while being read")
    if binary:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
