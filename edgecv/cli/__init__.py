"""The ``edgecv`` command line: one module per command group, each a thin layer over the Python API.

``app.py`` holds the group and its error handling; importing a command module registers its commands."""

from __future__ import annotations

from . import export, models, profile, run  # noqa: F401  (register their commands on `cli`)
from .app import cli


def main() -> None:
    import os
    import signal
    import sys

    def terminated(signum, frame):  # SIGTERM (a CI timeout, kill, systemd) ends a run as Ctrl-C does: cell
        raise KeyboardInterrupt  # processes stopped, finished rows kept, one line, no traceback

    signal.signal(signal.SIGTERM, terminated)
    try:
        cli.main(prog_name="edgecv", standalone_mode=True)
    except BrokenPipeError:  # the reader went away (`edgecv ... | head`): no traceback about it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)


__all__ = ["cli", "main"]
