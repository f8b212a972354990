"""What a machine can give a command: its cores and its free memory, checked before work starts."""

from __future__ import annotations

import os
import sys

from .errors import UsageError

NETWORK_BYTES_PER_PIXEL = 128  # running a CNN: ~32 float32 values live per input pixel (stem, a few feature maps)
IMAGE_BYTES_PER_PIXEL = 12  # holding a preprocessed float32 RGB image
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


def available_bytes() -> int | None:
    """MemAvailable (Linux), or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(what: str, images: int, height: int, width: int | None = None,
                 bytes_per_pixel: int = NETWORK_BYTES_PER_PIXEL, hint: str = "use a smaller --imgsz") -> None:
    """Refuse, before starting, work whose rough memory need exceeds what this machine has free."""
    need = images * height * (width or height) * bytes_per_pixel
    free = available_bytes()
    if free is not None and need > free:
        raise UsageError(f"{what} needs about {need / 2**30:,.1f} GiB of memory and {free / 2**30:,.1f} GiB is "
                         f"free; {hint}")
