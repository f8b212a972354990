"""The runtime interface: ``Runtime.open(artifact, device) -> Session``.

A runtime subclass sets its class attributes and writes ``_open``; the base class does the rest the same
way for every runtime: resolving the device, checking the target and options, reading the artifact's
metadata (and the I/O quantization onnxruntime does not report), and handing a remote device to
``placement.open_on_device``.
"""

from __future__ import annotations

import importlib.util
import inspect
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError, UsageError
from ..resources import cap_threads
from .session import Session, TensorInfo


class Runtime(ABC):
    """A way to run models. Subclasses set the class attributes and implement ``_open``."""

    name: str = ""
    suffixes: tuple[str, ...] = ()  # the files it opens (".onnx"); empty for runtimes that take other targets
    providers: tuple[str, ...] = ("cpu",)
    requires: tuple[str, ...] = ()  # importable modules it needs (any one of them is enough)
    install: str = ""  # how to install them
    on_device: bool = False  # the standalone device script can run it on a remote device
    default_on_boards: bool = True  # in a board's default profile (False: only when --runtime names it)

    def available(self) -> tuple[bool, str]:
        """(usable here, why not / what it found)."""
        for module in self.requires:
            if importlib.util.find_spec(module.split(".")[0]) is not None:
                return True, module
        return False, f"{' or '.join(self.requires)} not installed; {self.install}"

    def available_providers(self) -> list[str]:
        return list(self.providers) if self.available()[0] else []

    def open(self, artifact: Any, device: Any = None, provider: str | None = None, threads: int | None = None,
             facts: Any = None, **options: Any) -> Session:
        """Open ``artifact`` (a path or an ``Artifact``) on ``device`` (a name, a profile file, a Device).

        ``facts`` (``interop.Facts``: ``--preprocess``, ``--task``, ``--labels``, ``--head``) states what the file
        does not say; the session's metadata is ``interop.describe``'s, from every source, with ``sources``."""
        from ..devices import get_device
        from ..interop import describe, with_facts
        from ..portable.metadata import match_outputs

        target = getattr(artifact, "path", artifact)
        device = get_device(device)
        provider = provider or self.providers[0]
        if provider not in self.providers:
            raise UsageError(f"the {self.name} runtime has no provider {provider!r} (providers: "
                             f"{', '.join(self.providers)})")
        path = self._check_target(target)
        self._check_options(options)
        threads = cap_threads(threads, device)
        ok, why = self.available()
        if device.is_local and not ok:
            raise MissingDependencyError(f"the {self.name} runtime cannot run here: {why}")
        start = time.perf_counter()
        if device.is_local:
            session = self._open(path, provider, threads, **options)
        elif not self.on_device:
            raise UsageError(f"the {self.name} runtime runs on this machine only, not on {device.name}")
        else:
            if provider != "cpu" or options:
                raise UsageError(f"on {device.name} the {self.name} runtime takes --threads only (CPU provider)")
            from .placement import open_on_device

            session = open_on_device(device, path, self.name, threads)
        session.init_ms = session.init_ms or (time.perf_counter() - start) * 1e3
        session.runtime, session.provider, session.device = self.name, provider, device.name
        session.emulated = device.emulated
        if isinstance(path, Path):
            session.path = path
            try:
                meta = describe(path, facts, session.inputs, session.outputs, own=getattr(artifact, "metadata", None))
            except BaseException:
                session.close()
                raise
            session.metadata = match_outputs(meta, [o.name for o in session.outputs])
            _quantization_from_metadata(session)
        elif facts:  # a zoo model or checkpoint on torch: the stated preprocessing replaces the card's
            session.metadata = with_facts(session.metadata, facts)
        return session

    def _check_options(self, options: dict[str, Any]) -> None:
        """Options are the keyword arguments ``_open`` declares; anything else is named, not passed on."""
        params = inspect.signature(self._open).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):  # a plugin that takes anything checks for itself
            return
        known = [p.name for p in params if p.name not in ("path", "target", "provider", "threads")]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise UsageError(f"the {self.name} runtime has no option {unknown[0]!r} (options: "
                             f"{', '.join(known) or 'none'})")

    def _check_target(self, target: Any) -> Path | Any:
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"model file not found: {path}")
        if self.suffixes and path.suffix not in self.suffixes:
            raise UsageError(f"the {self.name} runtime opens {', '.join(self.suffixes)} files, not {path.name}")
        return path

    @abstractmethod
    def _open(self, path: Any, provider: str, threads: int | None, **options: Any) -> Session:
        """Open the model on this machine."""


def _quantization_from_metadata(session: Session) -> None:
    """Runtimes that do not report I/O quantization (onnxruntime) get it from the artifact's metadata."""
    for key in ("inputs", "outputs"):
        recorded = {t["name"]: t.get("quantization") for t in (session.metadata or {}).get(key, [])}
        infos = getattr(session, key)
        for k, info in enumerate(infos):
            q = recorded.get(info.name)
            if q and info.scale is None and np.issubdtype(info.dtype, np.integer):
                infos[k] = TensorInfo(info.name, info.shape, info.dtype, float(q["scale"]), int(q["zero_point"]))
