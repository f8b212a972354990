"""The profile table as text cells, and the best picks: shared by the terminal, ``report.md`` and
``report.html``."""

from __future__ import annotations

from typing import Any

from .row import Row

SHORT_ERROR = 60  # characters of a failed row's reason in the terminal table (the reports keep all of it)
_DTYPE = {"float32": "f32", "float16": "f16", "float64": "f64", "uint8": "u8", "int8": "i8", "int32": "i32",
          "int64": "i64", "bool": "bool"}
HEAD = ["model", "format", "precision", "runtime", "device", "input", "size MB", "accuracy", "metric", "Δ vs fp32",
        "p50 ms", "p90 ms", "first ms", "img/s", "eff %", "status"]
# what the columns whose header cannot say it all mean (report.md and report.html print these under the table)
LEGEND = ("accuracy: the row's headline figure, named in `metric` (top-1, mAP50-95 or mIoU, percent), on the data "
          "named under `Accuracy measured on`; Δ vs fp32: points against the PyTorch fp32 row of the same model and size; "
          "img/s: batch / p50 (the batch-N figure when --batch N; OpenVINO's throughput hint: its requests in flight at "
          "once); eff %: model MACs / p50 over the measured peak; precision `fp32 (bf16 compute)`: the runtime "
          "computed the fp32 file in bf16 (OpenVINO on CPUs with AMX or AVX-512 BF16)")


def input_summary(row: Row) -> str:
    """What was timed, short: ``1x3x640x640 f32``; several inputs joined by ``; ``."""
    return "; ".join(f"{'x'.join(map(str, i['shape']))} {_DTYPE.get(i['dtype'], i['dtype'])}"
                     for i in row.inputs or [])


def status(row: Row, short: bool = False) -> str:
    """``ok``, ``unstable`` (an ok row whose timing cannot be trusted) or ``failed: reason``."""
    if row.ok:
        return "unstable" if row.unstable else "ok"
    reason = str(row.error)
    if short and len(reason) > SHORT_ERROR:
        reason = reason[:SHORT_ERROR - 1] + "…"
    return f"failed: {reason}"


def peak_line(device: str, p: dict[str, Any]) -> str:
    """What ``eff %`` divides by, or why a busy machine's peak is not used."""
    text = (f"Peak on {device}: fp32 {p['fp32_gmacs']:.1f} GMAC/s, int8 {p['int8_gmacs']:.1f} GMAC/s "
            f"({p['gemm']} GEMM with {p['runtime']})")
    if p.get("busy"):
        return (f"{text}, measured while other work used {p['busy']['others_cores']:.1f} cores: not the CPU's peak, "
                "so eff % is left empty.")
    return f"{text}; eff % = model MACs / p50 over the peak of its precision."


def metric_name(row: Row) -> str:
    from ..metrics import NAMES

    found = row.headline
    return NAMES.get(found[0], found[0]) if found else "-"


def scored_on(row: Row) -> str | None:
    """``shapes val, 2000 images``: what the row's accuracy was measured on."""
    on = row.scored_on or {}
    if not on.get("data"):
        return None
    images = f", {on['images']} images" if on.get("images") is not None else ""
    return f"{on['data']} {on.get('split') or 'val'}{images}"


def scored_on_lines(rows: list[Row]) -> list[str]:
    """One line per dataset the rows were scored on, naming the metric of each model."""
    seen: dict[str, dict[str, str]] = {}
    for r in rows:
        where = scored_on(r)
        if where and r.accuracy is not None:
            seen.setdefault(where, {})[r.model] = metric_name(r)
    return [f"{where}: " + ", ".join(f"{m} ({metric})" for m, metric in models.items())
            for where, models in seen.items()]


def unstable_picks(rows: list[Row]) -> str | None:
    """Why best picks are not facts: how many of the rows they are chosen from had unstable timings."""
    ok = [r for r in rows if r.ok]
    bad = [r for r in ok if r.unstable]
    if not bad:
        return None
    return (f"{len(bad)} of {len(ok)} rows have unstable timings: the picks below rank numbers the machine bent "
            "(rerun with --remeasure unstable on a quiet machine)")


def best_picks(rows: list[Row], within: float = 1.0) -> list[tuple[str, Row]]:
    """Per model: the fastest and the smallest row within ``within`` points of its fp32 PyTorch accuracy. A
    pick made from an unstable row says so in its label (``pick_line``)."""
    from ..formats import REFERENCE

    picks = []
    for model in dict.fromkeys(r.model for r in rows):
        ok = [r for r in rows if r.model == model and r.ok and r.accuracy_delta is not None
              and r.accuracy_delta >= -within and r.format != REFERENCE]
        if ok:
            picks.append((f"{model}: fastest within {within:g} point", min(ok, key=lambda r: r.p50)))
            picks.append((f"{model}: smallest within {within:g} point", min(ok, key=lambda r: r.size_mb or 1e9)))
    return picks


def facts_lines(rows: list[Row]) -> list[str]:
    """Where each foreign file's facts came from (``interop.describe``), one line per file that states any."""
    seen = {}
    for r in rows:
        if r.sources and r.target not in seen:
            seen[r.target] = f"{r.model}: " + ", ".join(f"{k} from {v}" for k, v in sorted(r.sources.items()))
    return list(seen.values())


def pick_line(label: str, r: Row) -> str:
    shaky = " (unstable timing)" if r.unstable and "fastest" in label else ""
    return (f"{label}: {r.format} {r.precision} on {r.runtime} ({r.device}), {r.p50:.3f} ms{shaky}, "
            f"{r.size_mb:.2f} MB, Δ {signed(r.accuracy_delta)}")


def signed(value: float) -> str:
    text = f"{value:+.2f}"
    return "+0.00" if text == "-0.00" else text


def precision_text(row: Row) -> str:
    """``fp32``, or ``fp32 (bf16 compute)`` where the runtime computed a float file in a lower precision."""
    from .peak import compute_precision

    chosen = compute_precision(row)
    return f"{row.precision} ({chosen} compute)" if chosen else str(row.precision)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.{digits}f}"
        return text[1:] if text.startswith("-") and not text.strip("-0.") else text  # never "-0.00"
    return str(value)


TRACK_HEAD = ["MOTA", "IDF1", "track fps", "tracker %"]  # with `profile --track N`, before the status


def table_rows(rows: list[Row], short: bool = False) -> tuple[list[str], list[list[str]]]:
    body = []
    tracked = any(r.tracking for r in rows)
    for r in rows:
        lat = r.latency_ms or {}
        device = r.device + (" (emulated)" if r.emulated else "")
        runtime = r.runtime + (f"/{r.provider}" if r.provider not in (None, "cpu") else "")
        if (r.execution or {}).get("hint") == "throughput":
            runtime += " (throughput)"
        body.append([r.model, r.format, precision_text(r), runtime, device, input_summary(r) or "-", _fmt(r.size_mb),
                     _fmt(r.accuracy), metric_name(r) if r.accuracy is not None else "-", _fmt(r.accuracy_delta),
                     _fmt(lat.get("p50"), 3), _fmt(lat.get("p90"), 3),
                     _fmt(r.first_ms), _fmt(r.throughput_ips, 1),
                     _fmt(r.efficiency * 100, 1) if r.efficiency is not None else "-", status(r, short)])
        if tracked:
            t = r.tracking or {}
            share = t.get("tracker_share")
            body[-1][-1:-1] = [_fmt(t.get("mota")), _fmt(t.get("idf1")), _fmt(t.get("fps"), 1),
                               _fmt(share * 100, 1) if share is not None else "-"]
    return (HEAD[:-1] + TRACK_HEAD + HEAD[-1:] if tracked else list(HEAD)), body


def report_rows(report: dict[str, Any]) -> list[Row]:
    """A report's rows (``results.json``'s dicts) as ``Row``s."""
    return [Row.from_dict(r) for r in report["rows"]]


__all__ = ["LEGEND", "best_picks", "input_summary", "metric_name", "peak_line", "pick_line", "precision_text", "report_rows",
           "scored_on",
           "scored_on_lines", "signed", "status", "table_rows", "unstable_picks"]
