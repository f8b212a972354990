"""``edgecv annotate``: write what ``describe`` knows of a file into the file's own metadata (ONNX
``metadata_props["edgecv"]``, the TFLite metadata table), so it then works everywhere without flags or a
sidecar: ``profile``, ``eval``, ``predict``, ``track``, ``check``, Ray workers and the device script alike.

Nothing else in the file changes: the graph, the weights (ONNX external data stays where it is, named by the same
relative path) and every other metadata entry (an Ultralytics file keeps its own keys)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import UsageError


def annotate(path: str | Path, facts: Any = None, out: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Write ``path``'s metadata (every source, ``facts`` first) into ``out`` (default: ``path`` itself, replaced
    atomically). Refused, with what to state, when the facts do not let edgecv prepare images and read outputs."""
    from ._version import __version__
    from .formats import exporter_class, format_of
    from .interop import unscorable
    from .model_files import companion_files
    from .portable.metadata import METADATA_KEY
    from .runtimes import load

    path = Path(path)
    fmt = format_of(path)
    if fmt not in ("onnx", "tflite"):
        raise UsageError(f"edgecv annotate writes .onnx and .tflite files, not {path.name}")
    out = Path(out) if out else path
    if out.suffix != path.suffix:
        raise UsageError(f"--out {out.name} must be a {path.suffix} file, as {path.name} is")
    extra = companion_files(path)
    if extra and out.parent.resolve() != path.parent.resolve():
        raise UsageError(f"{path.name} keeps its weights in {extra[0].name}: write it in the same folder "
                         "(the external data is found by its relative path)")
    with load(path, facts=facts) as session:
        meta = dict(session.metadata or {})
    why = unscorable(meta, path.name)
    if why:
        raise UsageError(f"nothing written: {why}")
    meta.setdefault("format", fmt)
    meta.setdefault("edgecv_version", __version__)
    meta["annotated"] = {"edgecv_version": __version__, "from": path.name}
    text = json.dumps(meta, sort_keys=True)
    if fmt == "onnx":
        _onnx(path, text, out, METADATA_KEY)
    else:
        exporter_class(fmt)().embed_metadata(path, text, out)
    return out, meta


def _onnx(src: Path, text: str, dst: Path, key: str) -> None:
    from ._optional import import_optional
    from .artifact import write_atomic

    onnx = import_optional("onnx", "onnx")
    model = onnx.load(str(src), load_external_data=False)  # the weights stay in their own file
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    for k, v in [*kept, (key, text)]:
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    write_atomic(dst, model.SerializeToString())


__all__ = ["annotate"]
