"""Where edgecv keeps things it can rebuild: ``$EDGECV_CACHE``, else ``$XDG_CACHE_HOME/edgecv``, else
``~/.cache/edgecv``. Nothing in it is precious; deleting it costs only time."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    if os.environ.get("EDGECV_CACHE"):
        return Path(os.environ["EDGECV_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgecv"


def cache_dir(kind: str) -> Path:
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
