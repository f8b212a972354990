"""The torchvision-named models are torchvision's architectures exactly.

tests/data/torchvision_facts.json was recorded from torchvision 0.29.1 itself (the classifiers' facts are
identical to 0.28's) by
scripts/record_torchvision_facts.py: the ordered state-dict layout (keys and shapes) and the outputs
for weights that depend only on each key's name and shape. Equal layout + equal outputs means a
torchvision ImageNet ``.pth`` loads with ``--weights`` and behaves the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import deterministic_state, fixed_input, key_layout_digest

import edgecv
from edgecv.models.heads import decoded

FACTS = json.loads((Path(__file__).parent / "data" / "torchvision_facts.json").read_text())["models"]


@pytest.mark.parametrize("name", sorted(FACTS))
def test_state_dict_layout_matches_torchvision(name):
    facts = FACTS[name]
    state = edgecv.create_model(name).state_dict()
    assert len(state) == facts["num_keys"]
    for key, shape in facts["sample"].items():
        assert list(state[key].shape) == shape, key
    assert key_layout_digest(state) == facts["layout_sha256"]


@pytest.mark.parametrize("name", sorted(FACTS))
def test_outputs_match_torchvision(name, tmp_path):
    facts = FACTS[name]
    model = edgecv.create_model(name)
    # Go through a file the way a user does: torchvision's weights as a plain state-dict .pth.
    path = tmp_path / f"{name}.pth"
    torch.save(deterministic_state(model.state_dict()), path)
    model = edgecv.create_model(name, weights=path).eval()
    with torch.no_grad():  # a segmentation model's {"out": [B, 21, H, W]}, flattened as the facts were
        logits = decoded(model, model(fixed_input())).flatten(1)
    assert logits[0, :8].tolist() == pytest.approx(facts["logits_first8"], abs=2e-4)
    assert logits.abs().mean().item() == pytest.approx(facts["logits_abs_mean"], rel=1e-3)
    assert logits.sum().item() == pytest.approx(facts["logits_sum"], abs=5e-3 * logits.numel() ** 0.5)
