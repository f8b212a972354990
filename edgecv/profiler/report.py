"""The profile's reports: ``results.json`` (the whole report), ``results.csv`` (one flat row per cell),
``report.md`` (the table and the best picks), ``report.html`` (plots; ``html.py``) and the terminal table."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..artifact import write_atomic

COLUMNS = ("model", "format", "precision", "runtime", "provider", "device", "emulated", "imgsz", "batch", "size_mb",
           "params", "macs", "top1", "top5", "map50_95", "map50", "accuracy_delta", "p50_ms", "p90_ms", "p99_ms",
           "mean_ms", "std_ms", "min_ms", "throughput_ips", "init_ms", "first_ms", "peak_mem_mb", "efficiency",
           "status", "error")


def flat(row: dict[str, Any]) -> dict[str, Any]:
    lat = row.get("latency_ms") or {}
    out = {k: row.get(k) for k in COLUMNS}
    for k in ("p50", "p90", "p99", "mean", "std", "min"):
        out[f"{k}_ms"] = lat.get(k)
    return out


def accuracy(row: dict[str, Any]) -> float | None:
    return row["top1"] if row.get("top1") is not None else row.get("map50_95")


def best_picks(rows: list[dict[str, Any]], within: float = 1.0) -> list[tuple[str, dict[str, Any]]]:
    """Per model: the fastest and the smallest row within ``within`` points of its fp32 PyTorch accuracy."""
    picks = []
    for model in dict.fromkeys(r["model"] for r in rows):
        ok = [r for r in rows if r["model"] == model and r["status"] == "ok" and r.get("accuracy_delta") is not None
              and r["accuracy_delta"] >= -within and r["format"] != "pytorch"]
        if ok:
            picks.append((f"{model}: fastest within {within:g} point", min(ok, key=lambda r: r["latency_ms"]["p50"])))
            picks.append((f"{model}: smallest within {within:g} point", min(ok, key=lambda r: r["size_mb"] or 1e9)))
    return picks


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    head = ["model", "format", "precision", "runtime", "device", "size MB", "top-1 / mAP", "Δ vs fp32", "p50 ms",
            "p90 ms", "first ms", "img/s", "eff %", "status"]
    body = []
    for r in rows:
        lat = r.get("latency_ms") or {}
        device = r["device"] + (" (emulated)" if r.get("emulated") else "")
        runtime = r["runtime"] + (f"/{r['provider']}" if r.get("provider") not in (None, "cpu") else "")
        body.append([r["model"], r["format"], r["precision"], runtime, device, _fmt(r.get("size_mb")),
                     _fmt(accuracy(r)), _fmt(r.get("accuracy_delta")), _fmt(lat.get("p50"), 3),
                     _fmt(lat.get("p90"), 3), _fmt(r.get("first_ms")), _fmt(r.get("throughput_ips"), 1),
                     _fmt(r["efficiency"] * 100, 1) if r.get("efficiency") is not None else "-",
                     r["status"] if r["status"] == "ok" else f"failed: {r.get('error')}"])
    return head, body


def _peak_lines(peaks: dict[str, Any]) -> list[str]:
    """``eff %`` is achieved MAC/s over these measured peaks."""
    return ["", *(f"Peak on {d}: fp32 {p['fp32_gmacs']:.1f} GMAC/s, int8 {p['int8_gmacs']:.1f} GMAC/s "
                  f"({p['gemm']} GEMM with {p['runtime']}); eff % = model MACs / p50 over the peak of its precision."
                  for d, p in peaks.items())]


def markdown(report: dict[str, Any]) -> str:
    head, body = table_rows(report["rows"])
    env = report["environment"]
    lines = ["# edgecv profile", "",
             f"edgecv {report['edgecv_version']} on {env['cpu']} ({env['cores']} cores, {' '.join(env['isa'])}), "
             f"{env['os']}, Python {env['python']}. Emulated rows time qemu, not the device.",
             *_peak_lines(report.get("peaks") or {}), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    picks = best_picks(report["rows"])
    if picks:
        lines += ["", "## Best picks", ""]
        lines += [f"- {label}: {r['format']} {r['precision']} on {r['runtime']} ({r['device']}), "
                  f"{r['latency_ms']['p50']:.3f} ms, {r['size_mb']:.2f} MB, Δ {r['accuracy_delta']:+.2f}"
                  for label, r in picks]
    return "\n".join(lines) + "\n"


def write_reports(report: dict[str, Any], out: Path) -> None:
    write_atomic(out / "results.json", json.dumps(report, indent=1).encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for row in report["rows"]:
        writer.writerow(flat(row))
    write_atomic(out / "results.csv", buf.getvalue().encode())
    write_atomic(out / "report.md", markdown(report).encode())
    from .html import page

    write_atomic(out / "report.html", page(report).encode())


def print_table(report: dict[str, Any]) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from rich.console import Console

    from ..display import console

    if not console.is_terminal:  # a log file: wide rows read better than folded cells
        console = Console(width=max(console.width, 160))
    head, body = table_rows(report["rows"])
    table = Table(title="edgecv profile", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in head:
        table.add_column(col, justify="left" if col in ("model", "format", "precision", "runtime", "device",
                                                        "status") else "right", overflow="fold")
    for row in body:
        table.add_row(*(escape(c) for c in row))
    console.print(table)
    for label, r in best_picks(report["rows"]):
        console.print(f"{escape(label)}: {r['format']} {r['precision']} on {r['runtime']}, "
                      f"{r['latency_ms']['p50']:.3f} ms, {r['size_mb']:.2f} MB, Δ {r['accuracy_delta']:+.2f}")
