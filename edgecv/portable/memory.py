"""The one estimate of the memory a run needs, used by every path that allocates inputs (host and device script)
before it allocates them: a size that cannot fit is one line, not a MemoryError or the kernel's OOM killer."""

from __future__ import annotations

from .errors import DeviceError

NETWORK_BYTES_PER_PIXEL = 128  # running a CNN: ~32 float32 values live per input pixel (stem, a few feature maps)
IMAGE_BYTES_PER_PIXEL = 12  # holding a preprocessed float32 RGB image
TENSOR_BYTES_PER_VALUE = 4  # a float32 input that is not an image


class OutOfMemory(DeviceError):
    """The work cannot fit in the memory this machine has free."""


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


def check_fits(what: str, need: int, hint: str) -> None:
    free = available_bytes()
    if free is not None and need > free:
        raise OutOfMemory(f"{what} needs about {need / 2**30:,.1f} GiB of memory and {free / 2**30:,.1f} GiB is "
                          f"free; {hint}")


def inputs_need(shapes: dict) -> int:
    """Bytes to run a network on inputs of these shapes: an image-like input (rank 4, a channel axis of 1-4)
    counts at the network's bytes per pixel; any other at its float32 values."""
    need = 0
    for dims in shapes.values():
        dims = [int(d) for d in dims]
        values = 1
        for d in dims:
            values *= max(d, 0)
        if len(dims) == 4 and (dims[1] in (1, 3, 4) or dims[3] in (1, 3, 4)):
            pixels = values // (dims[1] if dims[1] in (1, 3, 4) else dims[3])
            need += pixels * NETWORK_BYTES_PER_PIXEL
        else:
            need += values * TENSOR_BYTES_PER_VALUE
    return need


__all__ = ["IMAGE_BYTES_PER_PIXEL", "NETWORK_BYTES_PER_PIXEL", "OutOfMemory", "available_bytes", "check_fits",
           "inputs_need"]
