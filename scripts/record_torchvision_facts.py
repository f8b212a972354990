"""Record torchvision's state-dict layouts and outputs as facts for tests/test_torchvision_compat.py.

torchvision is not an edgecv dependency (it cannot be installed beside the CPU torch wheel here), so
this is run once by hand in a separate virtual environment (on x86_64: ``pip install torch==2.14.1
torchvision==0.29.1``, the pair that imports together; the facts of 2026-11-26 come from that), or against
an unpacked torchvision wheel, e.g.:

    pip download --no-deps torchvision==0.28.0 -d /tmp/tv && unzip -q /tmp/tv/*.whl -d /tmp/tv/site
    : > /tmp/tv/site/torchvision/_meta_registrations.py   # its C++ ops are not needed for the models
    PYTHONPATH=/tmp/tv/site python scripts/record_torchvision_facts.py > tests/data/torchvision_facts.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import deterministic_state, fixed_input, key_layout_digest  # noqa: E402

NAMES = ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"] + [f"efficientnet_b{i}" for i in range(8)]
SEGMENTATION = ["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"]  # their "out": logits [B, 21, H, W]


def main() -> None:
    import torchvision
    import torchvision.models as tvm

    facts = {"torchvision": torchvision.__version__, "input": "tests.helpers.fixed_input(64, 2)", "models": {}}
    import torchvision.models.segmentation as tvs

    for name in NAMES + SEGMENTATION:
        # the segmentation builders default to downloading ImageNet backbone weights; the facts need none
        model = (getattr(tvs, name)(weights_backbone=None) if name in SEGMENTATION else getattr(tvm, name)()).eval()
        state = model.state_dict()
        model.load_state_dict(deterministic_state(state))
        with torch.no_grad():
            logits = model(fixed_input())
        if name in SEGMENTATION:
            logits = logits["out"].flatten(1)
        keys = list(state)
        facts["models"][name] = {
            "num_keys": len(keys),
            "layout_sha256": key_layout_digest(state),
            "sample": {k: list(state[k].shape) for k in keys[:2] + keys[len(keys) // 2: len(keys) // 2 + 2] + keys[-2:]},
            "logits_first8": [round(v, 6) for v in logits[0, :8].tolist()],
            "logits_sum": round(logits.sum().item(), 5),
            "logits_abs_mean": round(logits.abs().mean().item(), 6),
        }
    json.dump(facts, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
