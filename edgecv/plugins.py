"""Plugin tables: built-in implementations by ``"module:Class"`` (imported only when used), plus an
entry-point group through which a third-party package adds its own without touching edgecv."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from .errors import EdgecvError, UsageError


class Registry:
    def __init__(self, kind: str, group: str, builtin: dict[str, str]) -> None:
        self.kind, self.group, self.builtin = kind, group, builtin

    def _entry_points(self) -> dict:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        """Built-ins first, in their own order, then plugins alphabetically."""
        return [*self.builtin, *sorted(set(self._entry_points()) - set(self.builtin))]

    def load(self, name: str) -> type:
        target = self.builtin.get(name)
        if target is not None:
            module, cls = target.split(":")
            return getattr(importlib.import_module(module), cls)
        found = self._entry_points().get(name)
        if found is None:
            raise UsageError(f"unknown {self.kind} {name!r} (available: {', '.join(self.names())})")
        try:
            return found.load()
        except Exception as exc:  # a broken third-party package: say which one
            raise EdgecvError(f"the {self.kind} plugin {name!r} ({found.value}) failed to load: {exc}") from None
