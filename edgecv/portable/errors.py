"""The one error the portable core raises: a problem the user can fix, printed as one line."""

from __future__ import annotations


class DeviceError(Exception):
    """A problem the user can fix; printed as one line."""
