"""The one error the portable core raises: a problem the user can fix, printed as one line."""

from __future__ import annotations


class DeviceError(Exception):
    """A problem the user can fix; printed as one line."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message as one line (its first), or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
