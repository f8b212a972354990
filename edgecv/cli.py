"""The ``edgecv`` command line. Each command is a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ._version import __version__
from .errors import EdgecvError

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
    click.echo(f"edgecv: error: {message}", err=True)
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
    from .models import get_card, list_models
    from .display import card_detail, model_table

    if name is not None:
        card = get_card(name)
        if as_json:
            click.echo(json.dumps(card.to_dict(), indent=2))
        else:
            card_detail(card)
        return
    cards = [get_card(n) for n in list_models(task)]
    if as_json:
        rows = [{"name": c.name, "task": c.task, "family": c.family, "params": c.params, "macs": c.macs,
                 "input_size": c.input_size, "num_classes": c.num_classes,
                 "reference": c.to_dict()["reference"]} for c in cards]
        click.echo(json.dumps({"models": rows}, indent=2))
    else:
        model_table(cards)


def main() -> None:
    cli.main(prog_name="edgecv", standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
