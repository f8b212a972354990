"""Make a real torchvision model file and plain PyTorch's own top-1 of it (run in a venv with torchvision):

    python scripts/foreign/torchvision_files.py IMAGEFOLDER OUT [--epochs 3]

torchvision's ``mobilenet_v3_small`` (12 classes, from scratch: no hub weights) is trained on IMAGEFOLDER/train with
torchvision transforms, then scored on IMAGEFOLDER/val with the user's eval transforms -- ``Resize(72)`` (shorter side,
bilinear, antialiased), ``CenterCrop(64)``, ImageNet mean/std -- and exported by plain ``torch.onnx.export`` (dynamic
batch, weights in ``tv.onnx.data``). ``OUT/torchvision.json`` holds the number; ``OUT/tv.pth`` the state dict (for
``edgecv eval mobilenet_v3_small --weights tv.pth``); ``OUT/tv.edgecv.yaml`` the same transforms as edgecv's facts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    import torch
    import torchvision
    from torchvision import transforms as T

    torch.manual_seed(0)
    torch.set_num_threads(2)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    train_tf = T.Compose([T.RandomResizedCrop(64, scale=(0.6, 1.0)), T.ToTensor(), T.Normalize(mean, std)])
    eval_tf = T.Compose([T.Resize(72), T.CenterCrop(64), T.ToTensor(), T.Normalize(mean, std)])
    train = torchvision.datasets.ImageFolder(args.folder / "train", train_tf)
    val = torchvision.datasets.ImageFolder(args.folder / "val", eval_tf)
    net = torchvision.models.mobilenet_v3_small(num_classes=len(train.classes))
    opt = torch.optim.AdamW(net.parameters(), 2e-3)
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    if (args.out / "tv.pth").is_file():  # trained before: export and score those weights again
        net.load_state_dict(torch.load(args.out / "tv.pth", weights_only=True))
        args.epochs = 0
    for epoch in range(args.epochs):
        net.train()
        for x, y in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        print("epoch", epoch, flush=True)
    net.eval()
    hits = 0
    with torch.inference_mode():
        for x, y in torch.utils.data.DataLoader(val, batch_size=100):
            hits += int((net(x).argmax(1) == y).sum())
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), args.out / "tv.pth")
    torch.onnx.export(net, (torch.zeros(1, 3, 64, 64),), str(args.out / "tv.onnx"), dynamo=True, input_names=["input"],
                      output_names=["logits"], external_data=True,
                      dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},))
    (args.out / "tv.edgecv.yaml").write_text("input_size: 64\nmode: center_crop\nresize_size: 72\n"
                                             "interpolation: bilinear\nmean: [0.485, 0.456, 0.406]\n"
                                             "std: [0.229, 0.224, 0.225]\n")
    record = {"torchvision": torchvision.__version__, "top1": round(100 * hits / len(val), 2), "images": len(val),
              "files": {"onnx": "tv.onnx", "weights": "tv.pth"}}
    (args.out / "torchvision.json").write_text(json.dumps(record, indent=2) + "\n")
    print(record)


if __name__ == "__main__":
    main()
