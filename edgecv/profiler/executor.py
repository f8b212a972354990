"""Where a profile's cells run: here, one after another (``local``), or as tasks on a Ray cluster (``ray``,
``ray_executor.py``).

An executor takes the cells still to measure and yields ``(cell, row)`` as each one finishes, in any order.
The caller saves each row the moment it arrives, so an interrupted run (Ctrl-C, a lost head) loses no
finished row, and a rerun measures only what is missing. Every cell is measured by ``cell.run_isolated``: in
a process of its own, with the profile's timeout, wherever it runs.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import UsageError
from .matrix import Cell
from .row import Row

EXECUTORS = ("local", "ray")


class LocalExecutor:
    """Each cell on this machine, one at a time (two cells never share its cores)."""

    name = "local"

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, cells: list[Cell], settings: dict[str, Any], timeout_s: float) -> Iterator[tuple[Cell, Row]]:
        from .cell import run_isolated

        for cell in cells:
            row = run_isolated(cell.to_dict(), settings, timeout_s)
            row.node = this_node()
            yield cell, row


def this_node() -> dict[str, Any]:
    return {"hostname": socket.gethostname()}


def get_executor(name: str, address: str | None = None, log: Callable[[str], None] = print):
    """The executor called ``name``; ``address`` is a Ray cluster's (``ray``: default, ``RAY_ADDRESS`` or a new
    Ray instance on this machine)."""
    if name == "local":
        if address:
            raise UsageError("--ray-address needs --executor ray")
        return LocalExecutor()
    if name == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(address, log)
    raise UsageError(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")


__all__ = ["EXECUTORS", "LocalExecutor", "get_executor", "this_node"]
