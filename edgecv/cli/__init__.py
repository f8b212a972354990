"""The ``edgecv`` command line: one module per command group, each a thin layer over the Python API.

``app.py`` holds the group and its error handling; importing a command module registers its commands."""

from __future__ import annotations

from . import export, models, profile, run  # noqa: F401  (register their commands on `cli`)
from .app import cli


def main() -> None:
    cli.main(prog_name="edgecv", standalone_mode=True)


__all__ = ["cli", "main"]
