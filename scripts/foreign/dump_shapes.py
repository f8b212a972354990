"""Write edgecv's built-in data as plain files other tools read: shapes-det in Ultralytics' YOLO layout
(images/, labels/, data.yaml) and shapes as an ImageFolder, so a foreign model can be trained and validated by its
own tool on the very images edgecv scores it on. Run with edgecv installed:

    python scripts/foreign/dump_shapes.py OUT [--size 160] [--train 2000] [--val 500]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from edgecv.data import get_dataset


def dump_detection(out: Path, size: int, counts: dict[str, int]) -> None:
    for split, n in counts.items():
        ds = get_dataset("shapes-det", split, imgsz=size, limit=n)
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(len(ds)):
            image, boxes, classes = ds[i]
            h, w = image.shape[:2]
            Image.fromarray(image).save(out / "images" / split / f"{i:05d}.png")
            lines = [f"{int(c)} {(b[0] + b[2]) / 2 / w:.6f} {(b[1] + b[3]) / 2 / h:.6f} {(b[2] - b[0]) / w:.6f} "
                     f"{(b[3] - b[1]) / h:.6f}" for b, c in zip(boxes, classes)]
            (out / "labels" / split / f"{i:05d}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    names = get_dataset("shapes-det", "val", imgsz=size, limit=1).labels
    (out / "data.yaml").write_text(f"path: {out.resolve()}\ntrain: images/train\nval: images/val\n"
                                   f"names: {dict(enumerate(names))}\n")


def dump_classification(out: Path, size: int, counts: dict[str, int]) -> None:
    for split, n in counts.items():
        ds = get_dataset("shapes", split, imgsz=size, limit=n)
        for i in range(len(ds)):
            image, label = ds[i]
            folder = out / split / ds.labels[int(label)]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:05d}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--val", type=int, default=500)
    ap.add_argument("--task", choices=("detection", "classification"), default="detection")
    args = ap.parse_args()
    counts = {"train": args.train, "val": args.val}
    (dump_detection if args.task == "detection" else dump_classification)(args.out, args.size, counts)
    print(f"{args.out}: {args.task} data at {args.size}px, {counts}")


if __name__ == "__main__":
    main()
