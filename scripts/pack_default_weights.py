"""Store the best epochs of scripts/train_default_weights.sh as edgecv's default weights.

    python scripts/pack_default_weights.py runs/default

Each best.safetensors is rewritten as fp16 (half the size; the fp16 values *are* the shipped weights),
re-evaluated on its val split as stored, and listed in edgecv/weights/manifest.json with its sha256,
the val accuracy and the command that reproduces it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import edgecv
from edgecv.data import get_dataset
from edgecv.metrics import NAMES
from edgecv.models.checkpoint import read_checkpoint_meta, save_checkpoint
from edgecv.scoring import score

WEIGHTS = Path(edgecv.__file__).parent / "weights"


def _augment_flags(asked: dict) -> str:
    """The augmentation options a run was given, where they differ from the defaults."""
    from edgecv.train.augment import Augment

    defaults = Augment().to_dict()
    return "".join(f" --{k} {v:g}" for k, v in asked.items() if v is not None and v != defaults.get(k))


def main(runs: Path) -> None:
    manifest = json.loads((WEIGHTS / "manifest.json").read_text())
    for best in sorted(runs.glob("*/best.safetensors")):
        meta = read_checkpoint_meta(best)
        model = edgecv.create_model(meta["model"], weights=best)
        name = f"{meta['model']}-{meta['dataset']}.safetensors"
        target = save_checkpoint(model, WEIGHTS / name, {k: v for k, v in meta.items() if k != "edgecv_version"},
                                 half=True)
        stored = edgecv.create_model(meta["model"], weights=target)
        val = get_dataset(meta["dataset"], "val", imgsz=meta["imgsz"])
        scores = score(stored, val, batch_size=64)
        args = meta["train_args"]
        command = (f"edgecv train {meta['model']} --data {meta['dataset']} --epochs {args['epochs']} "
                   f"--batch {args['batch']} --lr {args['lr']} --seed {args['seed']}"
                   + "".join(f" --model-arg {k}={v}" for k, v in args.get("model_args", {}).items())
                   + (" --from-scratch" if args.get("from_scratch") else "")
                   + (f" --head-init {args['head_init']}" if args.get("head_init", "model") != "model" else "")
                   + _augment_flags(args.get("augment") or {}))
        manifest[meta["model"]] = {
            "file": name, "sha256": hashlib.sha256(target.read_bytes()).hexdigest(), "dataset": meta["dataset"],
            "imgsz": meta["imgsz"], "epoch": meta["epoch"], "val": {k: round(v, 2) for k, v in scores.items()},
            "command": command,
        }
        print(meta["model"], manifest[meta["model"]]["val"], f"{target.stat().st_size / 1e6:.1f} MB")
    (WEIGHTS / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print("\n| model | data | input | val accuracy (fp32, as shipped) | size | reproduce |\n|---|---|---|---|---|---|")
    for name, e in sorted(manifest.items()):
        val = e["val"]
        acc = ", ".join(f"{NAMES[k]} {v:.2f}" for k, v in val.items() if k in NAMES)
        size = (WEIGHTS / e["file"]).stat().st_size / 1e6
        print(f"| `{name}` | `{e['dataset']}` | {e['imgsz']} | {acc} | {size:.1f} MB | `{e['command']}` |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/default"))
