"""The ``edgecv`` command line. Each command is a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ._version import __version__
from .errors import EdgecvError, UsageError

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class _Group(click.Group):
    """Maps edgecv's errors to one line and an exit code; tracebacks only with --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except EdgecvError as exc:
            _fail(ctx, exc, str(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("edgecv: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # a bug in edgecv or a library: still one line unless --debug
            _fail(ctx, exc, f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)


def _fail(ctx: click.Context, exc: BaseException, message: str, code: int) -> None:
    if ctx.find_root().params.get("debug"):
        raise exc
    click.echo(f"edgecv: error: {' '.join(str(message).split())}", err=True)  # always one line
    ctx.exit(code)


@click.group(cls=_Group, context_settings=_CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="edgecv")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Export, run and profile computer-vision models for edge devices."""


@cli.command("models")
@click.argument("name", required=False)
@click.option("--task", type=click.Choice(["classification", "detection"]), help="Only models of this task.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_cmd(name: str | None, task: str | None, as_json: bool) -> None:
    """List the model zoo, or show one model's card (NAME)."""
    from .display import card_detail, model_table
    from .models import get_card, list_models
    from .weights import manifest

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
@click.option("--data", required=True, help="Built-in dataset (shapes, shapes-det, digits) or a path: ImageFolder "
              "root, data.yaml (YOLO txt or COCO JSON).")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--imgsz", type=click.IntRange(8), help="Input size (default: the dataset's render size for built-ins, "
              "else the model's).")
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=2e-3, show_default=True, help="AdamW peak learning rate.")
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
@click.option("--from-scratch", is_flag=True, help="Detection: start from random weights, not edgecv's default detector.")
def train_cmd(model: str, data: str, epochs: int, imgsz: int | None, batch: int, lr: float, out: str,
              weights: str | None, limit: int | None, val_limit: int | None, seed: int, workers: int,
              model_args: tuple[str, ...], from_scratch: bool) -> None:
    """Train or fine-tune MODEL on a dataset; validate every epoch and keep the best checkpoint."""
    from .train import TrainConfig, train

    result = train(TrainConfig(model=model, data=data, epochs=epochs, imgsz=imgsz, batch=batch, lr=lr, out=out,
                               weights=weights, limit=limit, val_limit=val_limit, seed=seed,
                               workers=workers, from_scratch=from_scratch, model_args=_key_values(model_args)))
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
def eval_cmd(target: str, weights: str | None, data: str | None, imgsz: int | None, limit: int | None, batch: int,
             runtime: str | None, provider: str | None, device: str | None, threads: int | None,
             as_json: bool) -> None:
    """Measure TARGET's accuracy (top-1/top-5 or COCO mAP) on a val split.

    TARGET is a zoo name or a checkpoint from `edgecv train` (run with PyTorch), or an exported .onnx/.tflite
    file, run with --runtime on --device (e.g. --device rpi4: the Pi's real aarch64 runtime, emulated)."""
    from rich.console import Console
    from rich.progress import Progress

    from .evaluate import evaluate_artifact, evaluate_target

    artifact = target.endswith((".onnx", ".tflite"))
    if artifact and (weights or imgsz):
        raise UsageError("--weights and --imgsz apply to zoo models and checkpoints; an artifact has its own")
    if not artifact and (runtime or provider or device or threads):
        raise UsageError("--runtime, --provider, --device and --threads apply to exported .onnx/.tflite files")
    with Progress(console=Console(stderr=True), transient=True, disable=as_json) as bar:
        task = bar.add_task(f"evaluating {target}", total=None)
        update = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
        if artifact:
            result = evaluate_artifact(target, runtime, provider, device, threads, data, limit, batch, update)
        else:
            result = evaluate_target(target, weights, data, imgsz, limit, batch, progress=update)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    scores = ", ".join(f"{k} {v:.2f}" for k, v in result["metrics"].items() if k != "images")
    where = ""
    if artifact:
        where = f" with {result['runtime']} on {result['device']}" + (" (emulated)" if result["emulated"] else "")
    click.echo(f"{result['model']} on {result['data']} val ({result['metrics']['images']} images, "
               f"{result['imgsz']}px){where}: {scores}")


@cli.command("export")
@click.argument("target")
@click.option("--format", "formats", default="onnx", show_default=True, help="Comma-separated: onnx, tflite.")
@click.option("--precision", "precisions", default="fp32", show_default=True,
              help="Comma-separated: fp32, fp16, int8 (static, calibrated), int8-dynamic (TFLite).")
@click.option("--imgsz", type=click.IntRange(8), help="Input size (default: the model's / the weights' training size).")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True, help="Fixed batch size.")
@click.option("--dynamic-batch", is_flag=True, help="ONNX: leave the batch dimension free.")
@click.option("--data", help="Real images for int8 calibration (train split) and the parity check (val split); "
              "default: the dataset the weights were trained on.")
@click.option("--calib-samples", type=click.IntRange(1), default=256, show_default=True)
@click.option("--calib-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax",
              show_default=True, help="How activation ranges are chosen (TFLite: minmax).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights for a zoo model or a module.py:factory.")
@click.option("--layout", type=click.Choice(["NCHW", "NHWC"], case_sensitive=False),
              help="Input layout (default: NCHW for ONNX, NHWC for TFLite).")
@click.option("--native-io", is_flag=True, help="fp16/int8 inputs and outputs in the model's own dtype "
              "(TFLite int8: int8 I/O; fp16 ONNX: fp16 I/O) instead of float32.")
@click.option("--parity-samples", type=click.IntRange(0), default=64, show_default=True,
              help="Val images for the parity check against PyTorch (0: skip).")
@click.option("--evaluate", is_flag=True, help="Also measure every artifact's accuracy on the val split.")
@click.option("--eval-limit", type=click.IntRange(1), help="With --evaluate: only the first N val images.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) when an artifact is outside its parity tolerance.")
@click.option("--reduce-range", is_flag=True, help="ONNX int8: 7-bit weights, so x86 CPUs without VNNI compute "
              "exactly what ARM boards do (see docs/export.md for the accuracy cost).")
@click.option("--out", type=click.Path(file_okay=False), default="exports", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def export_cmd(target: str, formats: str, precisions: str, imgsz: int | None, batch: int, dynamic_batch: bool,
               data: str | None, calib_samples: int, calib_method: str, weights: str | None, layout: str | None,
               native_io: bool, parity_samples: int, evaluate: bool, eval_limit: int | None, strict: bool,
               reduce_range: bool, out: str, as_json: bool) -> None:
    """Export TARGET to ONNX / TFLite at each precision, with metadata and a parity check.

    TARGET is a zoo name (default weights), a checkpoint from `edgecv train`, or path/to/module.py:factory
    for your own classification nn.Module."""
    from .display import export_table
    from .exporters.api import export

    log = (lambda msg: None) if as_json else (lambda msg: click.echo(msg, err=True))
    artifacts = export(target, formats, precisions, data=data, out=out, weights=weights, imgsz=imgsz, batch=batch,
                       dynamic_batch=dynamic_batch, calib_samples=calib_samples, calib_method=calib_method,
                       layout=layout, float_io=not native_io, parity_samples=parity_samples, strict=strict,
                       evaluate=evaluate, eval_limit=eval_limit, reduce_range=reduce_range, log=log)
    if as_json:
        click.echo(json.dumps({"artifacts": [a.to_dict() for a in artifacts]}, indent=2))
    else:
        export_table(artifacts)
        bad = [a for a in artifacts if a.parity and a.parity["failed"]]
        for a in bad:
            click.echo(f"WARNING: {a.path.name} does not behave like the PyTorch model: "
                       f"{'; '.join(a.parity['failed'])}", err=True)


def _key_values(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("a=1", "b=x")`` -> ``{"a": 1, "b": "x"}``: values are Python literals where they parse as one."""
    import ast

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--model-arg")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


from . import cli_run  # noqa: E402,F401  (registers predict, runtimes and devices on `cli`)


def main() -> None:
    cli.main(prog_name="edgecv", standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
