"""The report folder of a profile: which one a run writes (never another profile's), one writer at a time,
and the rows saved in it as they finish (``rows.jsonl``, fsync'd, read back on resume).

A saved row is resumed only if this user's edgecv on this machine wrote it: each line carries an HMAC-SHA256
``seal`` over the row, keyed by a random per-user key kept in the cache (``keys/rows.key``, mode 600). A row file
copied from elsewhere, committed next to a CI gate or edited by hand has no valid seal, so its rows are measured
anew (and the log says so) instead of being reported as measured here."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .row import Row

Log = Callable[[str], None]


@contextlib.contextmanager
def claim(out: Path, same: Callable[[Any], bool], log: Log):
    """The report folder this profile writes, locked for the whole run: ``out``, unless it holds the report of
    another profile (``same(recorded matrix)`` is false), then the next free ``out-2``, ``out-3``..., so a second
    profile never silently replaces the first one's report. Each candidate is locked *before* its report is
    read, so the choice cannot race with another profile finishing or starting there; one being written now is
    refused at once (``locked``)."""
    candidate, n = out, 1
    while True:
        with locked(candidate):
            previous = candidate / "results.json"
            try:
                recorded = json.loads(previous.read_text(encoding="utf-8")).get("matrix") if previous.is_file() else None
            except (OSError, ValueError, AttributeError):
                recorded = None
            if not previous.is_file() or same(recorded):
                if candidate != out:
                    log(f"{out}/ holds the report of another profile; this one goes to {candidate}/")
                yield candidate
                return
        n += 1
        candidate = out.with_name(f"{out.name}-{n}")


@contextlib.contextmanager
def locked(out: Path):
    """One profile at a time writes a report folder: a second one is refused at once, in one line (two writers
    each kept only their own rows in results.json)."""
    from ..artifact import writable

    writable(out)  # a file in the way or a read-only parent: one line naming the folder
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


KEY_BYTES = 32


def _row_key() -> bytes:
    """This user's key for sealing saved rows, made on first use. One that others can read or that another user
    owns is replaced (its seals then no longer verify: those rows are measured again, never trusted)."""
    from ..cache import cache_dir

    path = cache_dir("keys") / "rows.key"
    try:
        st = path.lstat()
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
            key = path.read_bytes()
            if len(key) == KEY_BYTES:
                return key
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UsageError(f"cannot read edgecv's row key {path}: {exc.strerror or exc}") from None
    key = os.urandom(KEY_BYTES)
    tmp = path.with_name(f".rows.key.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write edgecv's row key {path}: {exc.strerror or exc}") from None
    return key


def seal(row: dict[str, Any], key: bytes | None = None) -> str:
    text = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(key or _row_key(), text.encode(), hashlib.sha256).hexdigest()


def read_rows(path: Path, refused: list[str] | None = None) -> dict[str, Row]:
    """The rows saved so far, by key, that this machine's edgecv measured (a valid ``seal``). A line cut short
    by an interrupted run, or anything else that is not a whole row, is skipped: that cell runs again. Rows
    whose seal does not verify are skipped too, and their keys appended to ``refused``."""
    rows = {}
    if path.is_file():
        key = _row_key()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                data = json.loads(line)
                mark = data.pop("seal", None)
                row = Row.from_dict(data)
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                continue
            if not isinstance(row.key, str):
                continue
            if not isinstance(mark, str) or not hmac.compare_digest(mark, seal(data, key)):
                if refused is not None:
                    refused.append(row.key)
                continue
            rows[row.key] = row
    return rows


def append_row(path: Path, row: dict[str, Any]) -> None:
    """One sealed line, written whole: a full disk leaves no partial line behind (it is cut off again) and
    fails with one line naming the file."""
    line = (json.dumps({**row, "seal": seal(row)}) + "\n").encode()
    try:
        with open(path, "ab") as f:
            start = f.tell()
            try:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            except OSError:
                with contextlib.suppress(OSError):
                    f.truncate(start)
                raise
    except OSError as exc:
        from ..errors import EdgecvError

        raise EdgecvError(f"cannot save a row to {path}: {exc.strerror or exc}; the rows saved before it are kept") from None
