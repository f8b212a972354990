"""Make real Ultralytics files and Ultralytics' own scores of them (run in a venv with ultralytics, offline):

    python scripts/foreign/ultralytics_files.py DATA.yaml OUT [--epochs 12] [--imgsz 160] [--weights best.pt]

Trains YOLOv8n from its yaml (no hub weights) on DATA, exports ONNX three ways (static; dynamic=True; nms=True) and
writes ``OUT/ultralytics.json``: each file's ``yolo val`` mAP50-95 / mAP50 at its own size with ``rect=False``
(edgecv letterboxes every image to the square size, as ``rect=False`` does; ``rect=True`` pads less and moves mAP by
about a point). ``tests/test_foreign.py`` scores the same files with edgecv against these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--imgsz", type=int, default=160)
    ap.add_argument("--weights", type=Path, help="Skip training: export and validate these weights (a best.pt).")
    ap.add_argument("--model", default="yolov8n.yaml", help="The architecture yaml (yolov8n.yaml, or yolov8t.yaml here: "
                    "a sixteenth of the width, small enough to check in).")
    ap.add_argument("--name", default="yolov8n", help="The files' name prefix.")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    if args.weights:
        best = args.weights
    else:
        model = YOLO(args.model)
        model.train(data=str(args.data), epochs=args.epochs, imgsz=args.imgsz, batch=32, workers=2, plots=False,
                    project=str(args.out / "runs"), name="train", exist_ok=True, amp=False, device="cpu", seed=0,
                    deterministic=True, pretrained=False, verbose=False)
        best = Path(model.trainer.best)
    results = {}
    for name, options in {f"{args.name}-static": {}, f"{args.name}-dynamic": {"dynamic": True},
                          f"{args.name}-nms": {"nms": True}}.items():
        exported = Path(YOLO(str(best)).export(format="onnx", imgsz=args.imgsz, **options))
        target = args.out / f"{name}.onnx"
        shutil.move(exported, target)
        metrics = YOLO(str(target), task="detect").val(data=str(args.data), imgsz=args.imgsz, rect=False, batch=1,
                                                       plots=False, device="cpu", verbose=False,
                                                       project=str(args.out / "runs"), name=f"val-{name}",
                                                       exist_ok=True)
        results[name] = {"file": target.name, "map50_95": round(100 * float(metrics.box.map), 2),
                         "map50": round(100 * float(metrics.box.map50), 2), "imgsz": args.imgsz,
                         "export": options, "val": {"rect": False, "conf": 0.001, "iou": 0.7}}
        print(name, results[name])
    import ultralytics

    (args.out / "ultralytics.json").write_text(json.dumps({"ultralytics": ultralytics.__version__,
                                                           "files": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
