"""Count parameters and multiply-accumulates (MACs) with ``torch.utils.flop_counter``.

Models are built on the ``meta`` device, so even EfficientNet-B7 at 600x600 is counted in well under
a second without allocating weights. MACs are FLOPs / 2 as the flop counter reports them for
convolutions and matrix products; element-wise work (activations, norms, pooling) is not counted,
which is the usual convention behind published "MACs"/"FLOPs" tables.

    python -m edgecv.models.complexity            # print the table
    python -m edgecv.models.complexity --write    # refresh edgecv/models/complexity.json deliberately
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: int, in_chans: int = 3) -> int:
    """MACs of one batch-1 inference at ``input_size`` x ``input_size``."""
    device = next(model.parameters()).device
    x = torch.zeros(1, in_chans, input_size, input_size, device=device)
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


def measure(name: str) -> dict[str, int]:
    """Params and MACs of a zoo model at its card's default classes and input size."""
    from .api import build_model, get_card

    card = get_card(name)
    with torch.device("meta"):
        model = build_model(name)
    return {"params": count_params(model), "macs": count_macs(model, card.input_size, card.in_chans),
            "input_size": card.input_size}


def measure_all() -> dict[str, dict[str, int]]:
    from .api import list_models

    return {name: measure(name) for name in list_models()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite complexity.json with the counts")
    args = parser.parse_args()
    table = measure_all()
    for name, row in table.items():
        print(f"{name:24s} {row['params']:>12,d} params {row['macs'] / 1e9:>8.3f} GMACs @ {row['input_size']}")
    if args.write:
        path = Path(str(resources.files("edgecv.models").joinpath("complexity.json")))
        path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
