"""``edgecv profile --layers``: an ``edgecv layers`` report for each int8 file the profile timed, linked from
its rows in ``report.html``.

An int8 row is paired with the fp32 file of the same model, format, size and batch in the same profile (the
float model it came from, for edgecv's own exports). Each int8 file is analysed once, whatever number of
runtimes and devices timed it, and its report is kept (``OUT/layers/NAME-DIGEST.json``, ``.html``) under the
file's digest, so a resumed profile does not analyse it again. A file that cannot be analysed (no edgecv metadata,
no float twin) gets one log line and no link.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..errors import EdgecvError
from .matrix import file_digest
from .row import Row

LIMIT = 32  # val images per report, as ``edgecv layers`` by default


def attach_layer_reports(rows: list[Row], out: Path, data: str | None, threads: int | None,
                         log: Callable[[str], None]) -> None:
    """Write a layers report for each int8 ``.onnx``/``.tflite`` row's file and set ``row.layers_report``."""
    from ..artifact import write_atomic
    from ..quant.layers import analyse
    from ..quant.page import layers_page

    floats = {(r.model, r.format, r.imgsz, r.batch): r.target for r in rows
              if r.ok and r.precision == "fp32" and r.target and Path(r.target).is_file()}
    done: dict[str, str | None] = {}
    for row in rows:
        if not (row.ok and row.precision == "int8" and row.target and Path(row.target).suffix in (".onnx", ".tflite")):
            continue
        if row.target not in done:
            done[row.target] = None
            reference = floats.get((row.model, row.format, row.imgsz, row.batch))
            if reference is None:
                log(f"--layers: no fp32 {row.format} file of {row.model} in this profile to compare "
                    f"{Path(row.target).name} with")
                continue
            digest = file_digest(row.target)  # in the name: two folders' files of one name, or a file changed
            page = out / "layers" / f"{Path(row.target).name}-{digest[:12]}.html"
            saved = page.with_suffix(".json")
            if not (page.is_file() and saved.is_file()):
                log(f"--layers: analysing {Path(row.target).name} against {Path(reference).name}")
                try:
                    report = {**analyse(row.target, reference, data, LIMIT, threads), "digest": digest}
                except EdgecvError as exc:
                    log(f"--layers: {Path(row.target).name}: {exc}")
                    continue
                page.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(saved, json.dumps(report, indent=1).encode())
                write_atomic(page, layers_page(report).encode())
            done[row.target] = page.relative_to(out).as_posix()
        row.layers_report = done[row.target]


__all__ = ["attach_layer_reports"]
