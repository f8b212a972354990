"""The ``edgecv`` group: one line and an exit code for every error (a traceback only with ``--debug``), and
the option parsers the commands share."""

from __future__ import annotations

from typing import Any

import click

from .._version import __version__
from ..errors import EdgecvError

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
    if ctx.find_root().params.get("debug"):  # the traceback, then the same line and the same exit code
        import traceback

        traceback.print_exception(exc)
    click.echo(f"edgecv: error: {' '.join(str(message).split())}", err=True)  # always one line
    ctx.exit(code)


@click.group(cls=_Group, context_settings=_CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="edgecv")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Export, run and profile computer-vision models for edge devices."""


class Finite(click.FloatRange):
    """The CLI's one float type: a number within its range, never NaN or infinity (click's ``FloatRange`` lets
    ``nan`` through every bound, and a NaN limit passes every comparison)."""

    name = "finite float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


def key_values(pairs: tuple[str, ...], hint: str = "--model-arg") -> dict[str, Any]:
    """``("a=1", "b=x")`` -> ``{"a": 1, "b": "x"}``: values are Python literals where they parse as one."""
    import ast

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=hint)
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def runtime_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--option KEY=VALUE`` pairs for a runtime."""
    return key_values(pairs, "--option")


def facts_options(command):
    """``--preprocess FILE``, ``--task``, ``--labels`` and ``--head``: what a model file made by another tool does
    not say (``interop``). The command receives them as one ``facts`` argument (an ``interop.Facts``)."""
    import functools

    from ..portable.heads import ALL_HEADS
    from ..tasks import TASKS

    @functools.wraps(command)
    def with_facts(*args: Any, preprocess_file: str | None = None, task_fact: str | None = None,
                   labels: str | None = None, head: str | None = None, **kwargs: Any) -> Any:
        return command(*args, facts=facts_from(preprocess_file, task_fact, labels, head), **kwargs)

    options = [
        click.option("--preprocess", "preprocess_file", type=click.Path(dir_okay=False), metavar="FILE",
                     help="How images are prepared for the model (YAML/JSON: input_size, mode resize|center_crop|"
                     "letterbox, resize_size, interpolation, mean, std, colour, layout, pad_value); over what the "
                     "file, its sidecar or its producer says. docs/byom.md."),
        click.option("--task", "task_fact", type=click.Choice(list(TASKS)), help="The model's task, when its file "
                     "does not say it and its outputs could mean several."),
        click.option("--labels", metavar="FILE|a,b,c", help="Class names: a text file (one per line) or a list."),
        click.option("--head", type=click.Choice(list(ALL_HEADS)), help="A foreign detector's output layout: yolov8 "
                     "[B,4+nc,N], yolov5 [B,N,5+nc], yolo_nms [B,N,6]; classifiers: logits or probs."),
    ]
    for option in reversed(options):
        with_facts = option(with_facts)
    return with_facts


def facts_from(preprocess_file: str | None, task: str | None, labels: str | None, head: str | None):
    """The ``interop.Facts`` the four options state (files read and checked now, before any work)."""
    from ..interop import Facts
    from ..interop.sidecar import labels_from, read_facts_file

    stated: dict[str, Any] = read_facts_file(preprocess_file) if preprocess_file else {}
    if task:
        stated["task"] = task
    if labels:
        stated["labels"] = labels_from(labels)
    if head:
        stated["head"] = head
    return Facts.from_dict(stated, preprocess_file or "the options")
