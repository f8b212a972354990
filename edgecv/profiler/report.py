"""The profile's reports: ``results.json`` (the whole report), ``results.csv`` (one flat row per cell),
``report.md`` (the table and the best picks), ``report.html`` (plots; ``html.py``) and the terminal table."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..artifact import write_atomic

COLUMNS = ("model", "format", "precision", "runtime", "provider", "device", "emulated", "imgsz", "batch", "input",
           "inputs", "size_mb",
           "params", "macs", "top1", "top5", "map50_95", "map50", "accuracy_delta", "p50_ms", "p90_ms", "p99_ms",
           "mean_ms", "std_ms", "min_ms", "throughput_ips", "init_ms", "first_ms", "peak_mem_mb", "efficiency",
           "peak_gmacs", "run", "others_cores", "status", "unstable", "error", "notes")
SHORT_ERROR = 60  # characters of a failed row's reason in the terminal table (the reports keep all of it)
_DTYPE = {"float32": "f32", "float16": "f16", "float64": "f64", "uint8": "u8", "int8": "i8", "int32": "i32",
          "int64": "i64", "bool": "bool"}


def input_summary(row: dict[str, Any]) -> str:
    """What was timed, short: ``1x3x640x640 f32``; several inputs joined by ``; ``."""
    return "; ".join(f"{'x'.join(map(str, i['shape']))} {_DTYPE.get(i['dtype'], i['dtype'])}"
                     for i in row.get("inputs") or [])


def flat(row: dict[str, Any]) -> dict[str, Any]:
    lat = row.get("latency_ms") or {}
    out = {k: row.get(k) for k in COLUMNS}
    for k in ("p50", "p90", "p99", "mean", "std", "min"):
        out[f"{k}_ms"] = lat.get(k)
    peak = row.get("peak") or {}
    out.update(input=input_summary(row), inputs=json.dumps(row.get("inputs")) if row.get("inputs") else None,
               peak_gmacs=peak.get("int8_gmacs" if str(row["precision"]).startswith("int8") else "fp32_gmacs"),
               others_cores=(row.get("load") or {}).get("others_cores"),
               unstable="; ".join(row.get("unstable") or []) or None, notes="; ".join(row.get("notes") or []) or None)
    return out


def status(row: dict[str, Any], short: bool = False) -> str:
    """``ok``, ``unstable`` (an ok row whose timing cannot be trusted) or ``failed: reason``."""
    if row["status"] == "ok":
        return "unstable" if row.get("unstable") else "ok"
    reason = str(row.get("error"))
    if short and len(reason) > SHORT_ERROR:
        reason = reason[:SHORT_ERROR - 1] + "…"
    return f"failed: {reason}"


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


def table_rows(rows: list[dict[str, Any]], short: bool = False) -> tuple[list[str], list[list[str]]]:
    head = ["model", "format", "precision", "runtime", "device", "input", "size MB", "top-1 / mAP", "Δ vs fp32", "p50 ms",
            "p90 ms", "first ms", "img/s", "eff %", "status"]
    body = []
    for r in rows:
        lat = r.get("latency_ms") or {}
        device = r["device"] + (" (emulated)" if r.get("emulated") else "")
        runtime = r["runtime"] + (f"/{r['provider']}" if r.get("provider") not in (None, "cpu") else "")
        body.append([r["model"], r["format"], r["precision"], runtime, device, input_summary(r) or "-",
                     _fmt(r.get("size_mb")),
                     _fmt(accuracy(r)), _fmt(r.get("accuracy_delta")), _fmt(lat.get("p50"), 3),
                     _fmt(lat.get("p90"), 3), _fmt(r.get("first_ms")), _fmt(r.get("throughput_ips"), 1),
                     _fmt(r["efficiency"] * 100, 1) if r.get("efficiency") is not None else "-",
                     status(r, short)])
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
    unstable = [r for r in report["rows"] if r["status"] == "ok" and r.get("unstable")]
    if unstable:
        lines += ["", "## Unstable timings", "",
                  "These rows' latencies cannot be trusted (see docs/profile.md, \"unstable\"):", ""]
        lines += [f"- {r['model']} {r['format']} {r['precision']} on {r['runtime']}: {'; '.join(r['unstable'])}"
                  for r in unstable]
    notes = dict.fromkeys(f"{r['model']} {r['format']} {r['precision']}: {n}" for r in report["rows"]
                          for n in r.get("notes") or ())
    if notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in notes)]
    if len(report.get("runs") or []) > 1:
        lines += ["", f"Rows come from {len(report['runs'])} runs ({', '.join(report['runs'])}); each row's "
                  "efficiency is against the peak measured in its own run."]
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
        console = Console(width=max(console.width, 200))
    head, body = table_rows(report["rows"], short=True)
    table = Table(title="edgecv profile", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    widest_status = max((len(row[-1]) for row in body), default=6)
    for col in head:
        table.add_column(col, justify="left" if col in ("model", "format", "precision", "runtime", "device", "input",
                                                        "status") else "right", overflow="fold",
                         no_wrap=col != "status" or not console.is_terminal,
                         min_width=widest_status if col == "status" else None)
    for row in body:
        style = "yellow" if row[-1] == "unstable" else "red" if row[-1].startswith("failed") else None
        table.add_row(*(escape(c) for c in row), style=style)
    console.print(table)
    for label, r in best_picks(report["rows"]):
        console.print(f"{escape(label)}: {r['format']} {r['precision']} on {r['runtime']}, "
                      f"{r['latency_ms']['p50']:.3f} ms, {r['size_mb']:.2f} MB, Δ {r['accuracy_delta']:+.2f}")
