"""The report folder of a profile: which one a run writes (never another profile's), one writer at a time,
and the rows saved in it as they finish (``rows.jsonl``, fsync'd, read back on resume)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .row import Row

Log = Callable[[str], None]


def folder_for(out: Path, same: Callable[[Any], bool], log: Log) -> Path:
    """``out``, unless it holds the report of another profile (``same(recorded matrix)`` is false): then the
    next free ``out-2``, ``out-3``..., so a second profile never silently replaces the first one's report."""
    candidate, n = out, 1
    while True:
        previous = candidate / "results.json"
        try:
            recorded = json.loads(previous.read_text(encoding="utf-8")).get("matrix") if previous.is_file() else None
        except (OSError, ValueError, AttributeError):
            recorded = None
        if not previous.is_file() or same(recorded):
            break
        n += 1
        candidate = out.with_name(f"{out.name}-{n}")
    if candidate != out:
        log(f"{out}/ holds the report of another profile; this one goes to {candidate}/")
    return candidate


@contextlib.contextmanager
def locked(out: Path):
    """One profile at a time writes a report folder: a second one is refused at once, in one line (two writers
    each kept only their own rows in results.json)."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        yield
        return
    with open(out / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError(f"another edgecv profile is writing to {out}/ now; wait for it, or pass another "
                             "--out") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_rows(path: Path) -> dict[str, Row]:
    """The rows saved so far, by key. A line cut short by an interrupted run, or anything else that is not a
    whole row, is skipped: that cell runs again."""
    rows = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = Row.from_dict(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                continue
            if isinstance(row.key, str):
                rows[row.key] = row
    return rows


def append_row(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
