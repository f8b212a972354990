"""Import optional packages with a one-line install hint instead of a traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError


def import_optional(module: str, extra: str | None, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise an error saying how to install it: the edgecv extra that provides it,
    or (``extra=None``, a core dependency that has gone missing) the package itself."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = package or module.split(".")[0]
        fix = f"pip install 'edgecv[{extra}]'" if extra else f"pip install {missing}"
        raise MissingDependencyError(
            f"{missing} is needed here but cannot be imported ({exc}); install it with: {fix}"
        ) from exc
