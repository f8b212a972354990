"""Shared test helpers."""

from __future__ import annotations

import hashlib
import zlib

import torch


def key_layout_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of the ordered ``key shape`` lines of a state dict: equal digests mean equal layouts."""
    lines = "".join(f"{k} {tuple(v.shape)}\n" for k, v in state.items())
    return hashlib.sha256(lines.encode()).hexdigest()


def deterministic_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights that depend only on each key's name and shape, so any two implementations with the same
    state-dict layout get identical weights. Scaled to keep activations finite through deep nets."""
    out = {}
    for key, ref in state.items():
        g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        if ref.dtype == torch.long:  # num_batches_tracked
            out[key] = torch.zeros_like(ref)
        elif key.endswith("running_var"):
            out[key] = torch.rand(ref.shape, generator=g) + 0.5
        elif key.endswith("running_mean") or key.endswith("bias"):
            out[key] = torch.randn(ref.shape, generator=g) * 0.1
        elif ref.dim() == 1:  # norm weights
            out[key] = torch.rand(ref.shape, generator=g) * 0.5 + 0.75
        else:
            fan_in = ref[0].numel()
            out[key] = torch.randn(ref.shape, generator=g) * (1.0 / fan_in) ** 0.5
    return out


def fixed_input(size: int = 64, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1234))


def strip_tflite_tables(data: bytes, signatures: bool = True, metadata: bool = False) -> bytes:
    """A ``.tflite`` flatbuffer without its SignatureDefs (Model field 7) and, optionally, its metadata table
    (field 6): what older converters and most files in the wild look like. The fields are unset in the
    Model table's vtable, the flatbuffer way of leaving a field out."""
    import struct

    buf = bytearray(data)
    model = struct.unpack_from("<I", buf, 0)[0]
    vtable = model - struct.unpack_from("<i", buf, model)[0]
    size = struct.unpack_from("<H", buf, vtable)[0]
    for field, drop in ((7, signatures), (6, metadata)):
        slot = 4 + 2 * field
        if drop and slot < size:
            struct.pack_into("<H", buf, vtable + slot, 0)
    return bytes(buf)


# The runtimes before OpenVINO, which also opens .onnx files and joins a profile's default matrix when it is
# installed: tests that count a profile's rows pin these, so their rows are the same with or without it
# (tests/test_openvino.py covers the default with OpenVINO).
BASE_RUNTIMES = ["--runtime", "torch,onnxruntime,litert"]


def pinned(args):
    """``edgecv ARGS`` with the base runtimes when ARGS is a profile that names none."""
    args = [str(a) for a in args]
    if args and args[0] == "profile" and "--runtime" not in args:
        return [*args, *BASE_RUNTIMES]
    return args
