"""Import optional packages with a one-line install hint instead of a traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError


def import_optional(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise an error telling the user which edgecv extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = package or module.split(".")[0]
        raise MissingDependencyError(
            f"{missing} is needed here but cannot be imported ({exc}); "
            f"install it with: pip install 'edgecv[{extra}]'"
        ) from exc
