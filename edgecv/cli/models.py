"""``edgecv models``, ``train`` and ``eval``: the zoo and the PyTorch side."""

from __future__ import annotations

import json

import click

from ..errors import UsageError
from ..metrics import HEADLINE
from .app import Finite, cli, facts_options, key_values


@cli.command("models")
@click.argument("name", required=False)
@click.option("--task", type=click.Choice(list(HEADLINE)), help="Only models of this task.")  # every task has a headline
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_cmd(name: str | None, task: str | None, as_json: bool) -> None:
    """List the model zoo, or show one model's card (NAME)."""
    from ..display import card_detail, model_table
    from ..models import get_card, list_models
    from ..weights import manifest

    defaults = manifest()
    if name is not None:
        card = get_card(name)
        if as_json:
            click.echo(json.dumps({**card.to_dict(), "default_weights": defaults.get(name)}, indent=2))
        else:
            card_detail(card, defaults.get(name))
        return
    cards = [get_card(n) for n in list_models(task)]
    if as_json:
        rows = [{"name": c.name, "task": c.task, "family": c.family, "params": c.params, "macs": c.macs,
                 "input_size": c.input_size, "num_classes": c.num_classes, "reference": c.to_dict()["reference"],
                 "default_weights": defaults.get(c.name)} for c in cards]
        click.echo(json.dumps({"models": rows}, indent=2))
    else:
        model_table(cards, defaults)


@cli.command("train")
@click.argument("model")
@click.option("--data", required=True, help="Built-in dataset (shapes, shapes-det, shapes-seg, digits) or a path: "
              "ImageFolder root, Pascal VOC segmentation folders (JPEGImages + SegmentationClass), data.yaml (YOLO "
              "txt or COCO JSON).")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--imgsz", type=click.IntRange(8), help="Input size (default: the dataset's render size for built-ins, "
              "else the model's).")
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True)
@click.option("--lr", type=Finite(0, min_open=True), default=2e-3, show_default=True, help="AdamW peak learning rate.")
@click.option("--out", type=click.Path(file_okay=False), default="runs/train", show_default=True,
              help="Folder for best.safetensors, last.safetensors and results.json.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Start from these weights (fine-tune); a head "
              "trained for other classes is replaced.")
@click.option("--limit", type=click.IntRange(1), help="Train on the first N training images only.")
@click.option("--val-limit", type=click.IntRange(1), help="Validate on the first N val images only.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True, help="Processes preparing data.")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Architecture argument, repeatable (e.g. stochastic_depth_prob=0, width_mult=0.5).")
@click.option("--from-scratch", is_flag=True, help="Start from random weights, not edgecv's default detector (detection) or the "
              "default weights of the classifier the backbone is (segmentation).")
@click.option("--head-init", type=click.Choice(["model", "zero"]), default="model", show_default=True,
              help="Classifier from scratch: the architecture's own init of the last layer, or zeros (use zero for "
              "EfficientNets on few classes: their own init makes large random logits, and the features collapse).")
@click.option("--fliplr", type=Finite(0, 1), help="Probability of a horizontal mirror (default 0.5, or 0 "
              "for data whose classes are not mirror images, like the built-in digits; say 0 for text, arrows, signs).")
@click.option("--shift", type=Finite(0, 1, max_open=True), default=1 / 16, show_default="1/16",
              help="Classification: random shift, as a fraction of the image side.")
@click.option("--scale", type=Finite(0, 1, max_open=True), default=0.0, show_default=True,
              help="Random zoom in or out by up to this fraction (boxes follow).")
@click.option("--colour", type=Finite(0, 1, max_open=True), default=0.0, show_default=True,
              help="Random brightness and contrast jitter by up to this fraction.")
@click.option("--mosaic", type=Finite(0, 1), default=0.0, show_default=True,
              help="Detection: probability of a 2x2 mosaic of four training images.")
def train_cmd(model: str, data: str, epochs: int, imgsz: int | None, batch: int, lr: float, out: str,
              weights: str | None, limit: int | None, val_limit: int | None, seed: int, workers: int,
              model_args: tuple[str, ...], from_scratch: bool, fliplr: float | None, shift: float, scale: float,
              colour: float, mosaic: float, head_init: str) -> None:
    """Train or fine-tune MODEL on a dataset; validate every epoch and keep the best checkpoint.

    The augmentation (--fliplr, --shift, --scale, --colour, --mosaic) is printed when training starts and
    recorded in the checkpoint."""
    from ..train import TrainConfig, train
    from ..train.augment import Augment

    augment = Augment(fliplr=fliplr, shift=shift, scale=scale, colour=colour, mosaic=mosaic)
    result = train(TrainConfig(model=model, data=data, epochs=epochs, imgsz=imgsz, batch=batch, lr=lr, out=out,
                               weights=weights, limit=limit, val_limit=val_limit, seed=seed,
                               workers=workers, from_scratch=from_scratch, model_args=key_values(model_args),
                               augment=augment, head_init=head_init))
    best = result["best"]
    scores = ", ".join(f"{k} {v:.2f}" for k, v in best.items() if k not in ("epoch", "loss", "images"))
    for note in result["notes"]:
        click.echo(note)
    click.echo(f"best epoch {best['epoch']}: {scores} on {best['images']} val images -> {result['best_path']}")


@cli.command("eval")
@click.argument("target")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights for a zoo model (default: edgecv's own).")
@click.option("--data", help="Dataset (default: the one the weights were trained on).")
@click.option("--imgsz", type=click.IntRange(8), help="Input size (default: the training size).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N val images.")
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True)
@click.option("--runtime", help="Artifacts: the runtime (default: by file type).")
@click.option("--provider", help="Artifacts: the runtime's provider (onnxruntime: cpu, cuda, tensorrt).")
@click.option("--device", help="Artifacts: a device profile name or .toml (host, rpi4, rpi5, ...).")
@click.option("--threads", type=click.IntRange(1), help="Artifacts: runtime threads.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@facts_options
def eval_cmd(target: str, weights: str | None, data: str | None, imgsz: int | None, limit: int | None, batch: int,
             runtime: str | None, provider: str | None, device: str | None, threads: int | None,
             as_json: bool, facts) -> None:
    """Measure TARGET's accuracy (top-1/top-5, COCO mAP50-95/mAP50, or mIoU and pixel accuracy) on a val split.

    TARGET is a zoo name or a checkpoint from `edgecv train` (run with PyTorch), or an exported .onnx/.tflite/.xml
    (OpenVINO IR) file, run with --runtime on --device (e.g. --device rpi4: the Pi's real aarch64 runtime, emulated)."""
    from rich.console import Console
    from rich.progress import Progress

    from ..evaluate import evaluate_artifact, evaluate_target
    from ..formats import format_of

    artifact = format_of(target) is not None
    if artifact and (weights or imgsz):
        raise UsageError("--weights and --imgsz apply to zoo models and checkpoints; an artifact has its own")
    if not artifact and (runtime or provider or device or threads):
        raise UsageError("--runtime, --provider, --device and --threads apply to exported model files")
    err = Console(stderr=True)
    with Progress(console=err, transient=True, disable=as_json or not err.is_terminal) as bar:  # no stray line in logs
        task = bar.add_task(f"evaluating {target}", total=None)
        update = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
        if artifact:
            result = evaluate_artifact(target, runtime, provider, device, threads, data, limit, batch, update, facts)
        else:
            result = evaluate_target(target, weights, data, imgsz, limit, batch, progress=update, facts=facts)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    scores = ", ".join(f"{k} {v:.2f}" for k, v in result["metrics"].items() if k != "images")
    where = ""
    if artifact:
        where = f" with {result['runtime']} on {result['device']}" + (" (emulated)" if result["emulated"] else "")
    click.echo(f"{result['model']} on {result['data']} val ({result['metrics']['images']} images, "
               f"{result['imgsz']}px){where}: {scores}")
    if result.get("sources"):
        click.echo("facts: " + ", ".join(f"{k} from {v}" for k, v in sorted(result["sources"].items())), err=True)
