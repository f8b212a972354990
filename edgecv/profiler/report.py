"""The profile's reports: ``results.json`` (the whole report), ``results.csv`` (one flat row per cell),
``report.md`` (the table and the best picks), ``report.html`` (plots; ``html.py``) and the terminal table.
A new report format is a function here (or a module beside ``html.py``) fed by ``table.py``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..artifact import write_atomic
from .cells import csv_cell, md_cell
from .html import page
from .row import Row
from .table import (
    LEGEND,
    best_picks,
    facts_lines,
    input_summary,
    peak_line,
    pick_line,
    report_rows,
    scored_on,
    scored_on_lines,
    table_rows,
    unstable_picks,
)

COLUMNS = ("model", "format", "precision", "runtime", "provider", "device", "emulated", "imgsz", "batch", "input",
           "inputs", "size_mb", "params", "macs", "top1", "top5", "map50_95", "map50", "miou", "pixel_acc",
           "accuracy_delta", "p50_ms", "p90_ms", "p99_ms",
           "mean_ms", "std_ms", "min_ms", "throughput_ips", "init_ms", "first_ms", "peak_mem_mb", "efficiency",
           "peak_gmacs", "run", "node", "metric", "scored_on", "mota", "idf1", "track_fps", "tracker_ms", "tracker_share",
           "others_cores",
           "status", "unstable", "error", "notes", "sources")


def flat(row: Row) -> dict[str, Any]:
    """One ``results.csv`` line."""
    lat = row.latency_ms or {}
    values = row.to_dict()
    out = {k: values.get(k) for k in COLUMNS}
    for k in ("p50", "p90", "p99", "mean", "std", "min"):
        out[f"{k}_ms"] = lat.get(k)
    peak = row.peak or {}
    out.update(input=input_summary(row), inputs=json.dumps(row.inputs) if row.inputs else None,
               peak_gmacs=peak.get("int8_gmacs" if str(row.precision).startswith("int8") else "fp32_gmacs"),
               others_cores=(row.load or {}).get("others_cores"), node=(row.node or {}).get("hostname"),
               **{k: (row.tracking or {}).get(k) for k in ("mota", "idf1", "tracker_ms", "tracker_share")},
               track_fps=(row.tracking or {}).get("fps"),
               unstable="; ".join(row.unstable) or None, notes="; ".join(row.notes) or None,
               sources=json.dumps(row.sources, sort_keys=True) if row.sources else None,
               metric=row.headline[0] if row.headline else None, scored_on=scored_on(row))
    return out


def _peak_lines(peaks: dict[str, Any]) -> list[str]:
    """``eff %`` is achieved MAC/s over these measured peaks (or why there is none)."""
    return ["", *(peak_line(d, p) for d, p in peaks.items())]


def markdown(report: dict[str, Any]) -> str:
    rows = report_rows(report)
    head, body = table_rows(rows)
    env = report["environment"]
    emulated = " Emulated rows time qemu, not the device." if any(r.emulated for r in rows) else ""
    lines = ["# edgecv profile", "",
             f"edgecv {report['edgecv_version']} on {env['cpu']} ({env['cores']} cores, {' '.join(env['isa'])}), "
             f"{env['os']}, Python {env['python']}.{emulated}",
             *_peak_lines(report.get("peaks") or {}), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in body]
    lines += ["", md_cell(LEGEND)]
    measured_on = scored_on_lines(rows)
    if measured_on:
        lines += ["", "## Accuracy measured on", "", *(md_cell(f"- {m}") for m in measured_on)]
    unstable = [r for r in rows if r.ok and r.unstable]
    if unstable:
        lines += ["", "## Unstable timings", "",
                  "These rows' latencies cannot be trusted (see docs/profile.md, \"unstable\"):", ""]
        lines += [md_cell(f"- {r.describe()} on {r.runtime}: {'; '.join(r.unstable)}") for r in unstable]
    notes = dict.fromkeys(f"{r.describe()}: {n}" for r in rows for n in r.notes)
    if notes:
        lines += ["", "## Notes", "", *(md_cell(f"- {n}") for n in notes)]
    facts = facts_lines(rows)
    if facts:
        lines += ["", "## Where each file's facts came from", "",
                  "(flags, the FILE.edgecv.yaml sidecar, the file's own edgecv metadata, its producer's metadata, or "
                  "the graph itself: docs/byom.md)", "", *(md_cell(f"- {f}") for f in facts)]
    if len(report.get("runs") or []) > 1:
        lines += ["", f"Rows come from {len(report['runs'])} runs ({', '.join(report['runs'])}); each row's "
                  "efficiency is against the peak measured in its own run."]
    picks = best_picks(rows)
    if picks:
        lines += ["", "## Best picks", ""]
        warning = unstable_picks(rows)
        lines += [md_cell(f"**{warning}.**"), ""] if warning else []
        lines += [md_cell(f"- {pick_line(label, r)}") for label, r in picks]
    return "\n".join(lines) + "\n"


def write_reports(report: dict[str, Any], out: Path) -> None:
    write_atomic(out / "results.json", json.dumps(report, indent=1).encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for row in report_rows(report):
        writer.writerow({k: csv_cell(v) for k, v in flat(row).items()})
    write_atomic(out / "results.csv", buf.getvalue().encode())
    write_atomic(out / "report.md", markdown(report).encode())
    write_atomic(out / "report.html", page(report).encode())


def print_table(report: dict[str, Any]) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from ..display import console  # in a log or a pipe: wide enough for whole rows (display.make_console)
    rows = report_rows(report)
    head, body = table_rows(rows, short=True)
    table = Table(title="edgecv profile", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    widest_status = max((len(row[-1]) for row in body), default=6)
    for col in head:
        table.add_column(col, justify="left" if col in ("model", "format", "precision", "runtime", "device", "input",
                                                        "status") else "right", overflow="fold",
                         no_wrap=col != "status" or not console.is_terminal,
                         min_width=min(widest_status, 20) if col == "status" else None)
    for row in body:
        style = "yellow" if row[-1] == "unstable" else "red" if row[-1].startswith("failed") else None
        table.add_row(*(escape(c) for c in row), style=style)
    console.print(table)
    for line in scored_on_lines(rows):
        console.print(escape(f"accuracy measured on {line}"), style="dim")
    picks = best_picks(rows)
    warning = unstable_picks(rows) if picks else None
    if warning:
        console.print(f"[yellow]{escape(warning)}[/]")
    for label, r in picks:
        console.print(escape(pick_line(label, r)))
