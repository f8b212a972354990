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
