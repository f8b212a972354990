"""``report.html``: one self-contained page (inline SVG, no scripts, no downloads) with, per model,
accuracy vs latency with the Pareto front, size vs accuracy, and the accuracy change of each variant."""

from __future__ import annotations

import html
import math
from typing import Any

from ..formats import REFERENCE
from ..metrics import NAMES
from .cells import report_link
from .row import Row
from .table import (
    LEGEND,
    best_picks,
    facts_lines,
    peak_line,
    pick_line,
    report_rows,
    scored_on_lines,
    signed,
    table_rows,
    unstable_picks,
)

COLOURS = {"pytorch": "#555555", "onnx": "#1f77b4", "tflite": "#e4572e"}
MARKS = {"fp32": "circle", "fp16": "square", "int8": "triangle"}
W, H, PAD = 380, 250, 58  # PAD: room left of and under the plot for tick labels, then the axis title
OUTLIER = 20.0  # an x value this many times the median is drawn at the plot's edge, marked, not scaled to


def pareto(points: list[tuple[float, float, Any]]) -> list[tuple[float, float, Any]]:
    """Points no other point beats on both axes (lower x, higher y), in x order."""
    front, best = [], -math.inf
    for x, y, item in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y, item))
            best = y
    return front


MIN_ACCURACY_SPAN = 5.0  # points: a 0.3-point spread must not fill the whole axis and look dramatic


def _scale(values: list[float], lo_px: float, hi_px: float, log: bool = False, min_span: float = 0.0):
    vals = [math.log10(v) if log else v for v in values]
    lo, hi = min(vals), max(vals)
    if hi - lo < max(min_span, 1e-12):
        mid, half = (lo + hi) / 2, max(min_span, 2.0) / 2
        lo, hi = mid - half, mid + half
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad

    def scale(v: float) -> float:
        return lo_px + ((math.log10(v) if log else v) - lo) / (hi - lo) * (hi_px - lo_px)

    scale.domain = (10 ** lo, 10 ** hi) if log else (lo, hi)  # what the axis shows, for its ticks
    return scale


def nice_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 x 10^k) inside ``[lo, hi]``, at most ``most`` of them, so that no
    two labels print the same or overlap."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 10) for k in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2, 5 x 10^k inside ``[lo, hi]`` (decades only when that would be too many)."""
    ticks = [m * 10.0 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5)]
    inside = [t for t in ticks if lo <= t <= hi]
    if len(inside) > 6:
        inside = [t for t in inside if f"{t:g}".lstrip("0.").startswith("1")]
    if len(inside) < 2:  # less than a decade: round ends, so the axis still reads
        inside = sorted({float(f"{lo:.2g}"), *inside, float(f"{hi:.2g}")})
    return inside


def _label(v: float) -> str:
    text = f"{v:.4g}"
    return "0" if text == "-0" else text


def _mark(kind: str, x: float, y: float, colour: str, title: str) -> str:
    tip = f"<title>{html.escape(title)}</title>"
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}">{tip}</rect>'
    if kind == "triangle":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}" '
                f'fill="{colour}">{tip}</polygon>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}">{tip}</circle>'


def scatter(rows: list[Row], x_of, x_label: str, y_label: str, title: str, log_x: bool = False,
            front: bool = False) -> str:
    pts = [(x_of(r), r.accuracy, r) for r in rows if x_of(r) and r.accuracy is not None]
    if not pts:
        return ""
    xs = sorted(p[0] for p in pts)
    limit = xs[len(xs) // 2] * OUTLIER  # one stalled row must not squash every other point into a corner
    shown = [p[0] for p in pts if p[0] <= limit]
    sx = _scale(shown, PAD, W - 16, log_x)
    reference = next((r.accuracy for r in rows if r.format == REFERENCE and r.accuracy is not None), None)
    ys = [p[1] for p in pts] + ([reference] if reference is not None else [])
    sy = _scale(ys, H - PAD, 20, min_span=MIN_ACCURACY_SPAN)
    parts = [f'<svg width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="{W / 2}" y="14" text-anchor="middle" font-size="12">{html.escape(title)}</text>',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#999"/>',
             f'<line x1="{PAD}" y1="20" x2="{PAD}" y2="{H - PAD}" stroke="#999"/>',
             f'<text x="{(PAD + W) / 2}" y="{H - 10}" text-anchor="middle" font-size="11">{html.escape(x_label)}</text>',
             f'<text x="12" y="{(H - PAD + 20) / 2}" text-anchor="middle" font-size="11" '
             f'transform="rotate(-90 12 {(H - PAD + 20) / 2})">{html.escape(y_label)}</text>']
    x_ticks = log_ticks(*sx.domain) if log_x else nice_ticks(*sx.domain)
    for v in x_ticks:
        x = sx(v)
        if PAD <= x <= W - 10:
            parts.append(f'<line x1="{x:.1f}" y1="{H - PAD}" x2="{x:.1f}" y2="{H - PAD + 4}" stroke="#999"/>'
                         f'<text class="tick" x="{x:.1f}" y="{H - PAD + 16}" text-anchor="middle" font-size="10">'
                         f'{_label(v)}</text>')
    for v in nice_ticks(*sy.domain):
        y = sy(v)
        parts.append(f'<line x1="{PAD - 4}" y1="{y:.1f}" x2="{PAD}" y2="{y:.1f}" stroke="#999"/>'
                     f'<text class="tick" x="{PAD - 6}" y="{y + 3:.1f}" text-anchor="end" font-size="10">'
                     f'{_label(v)}</text>')
    if reference is not None:  # the fp32 PyTorch accuracy: what each variant's change is measured against
        parts.append(f'<line class="reference" x1="{PAD}" y1="{sy(reference):.1f}" x2="{W - 10}" '
                     f'y2="{sy(reference):.1f}" stroke="#888" stroke-dasharray="2,3"><title>fp32 PyTorch '
                     f'{reference:.2f}</title></line>')
    if front:  # the front as a dashed line, each of its points ringed
        best = pareto(pts)
        line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in best)
        parts.append(f'<polyline class="pareto" points="{line}" fill="none" stroke="#2a9d8f" stroke-width="2" '
                     'stroke-dasharray="5,3"><title>Pareto front</title></polyline>')
        parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="8.5" fill="none" stroke="#2a9d8f" '
                  'stroke-width="2"/>' for x, y, _ in best]
    for x, y, r in pts:
        label = f"{r.format} {r.precision} on {r.runtime}: {x:.3g} {x_label}, {y:.2f}"
        if x > limit:  # off the scale: drawn at the edge, its value in the mark's title and beside it
            label += f" (off the scale, over {OUTLIER:g}x the median)"
            parts.append(_mark(MARKS.get(r.precision, "circle"), W - 12, sy(y), COLOURS.get(r.format, "#333"), label))
            parts.append(f'<text class="off-scale" x="{W - 18}" y="{sy(y) - 7:.1f}" text-anchor="end" '
                         f'font-size="9">{x:.3g} →</text>')
            continue
        parts.append(_mark(MARKS.get(r.precision, "circle"), sx(x), sy(y), COLOURS.get(r.format, "#333"), label))
    return "".join(parts) + "</svg>"


def deltas(rows: list[Row], title: str) -> str:
    """Horizontal bars: each variant's accuracy change against fp32 PyTorch; more than 1 point lost is red."""
    bars = [r for r in rows if r.accuracy_delta is not None and r.format != REFERENCE]
    if not bars:
        return ""
    width, mid, half = 420, 250, 120
    span = max(1.0, max(abs(r.accuracy_delta) for r in bars))
    h = 26 + 18 * len(bars)
    parts = [f'<svg width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img" '
             f'aria-label="{html.escape(title)}">',
             f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="12">{html.escape(title)}</text>',
             f'<line x1="{mid}" y1="18" x2="{mid}" y2="{h}" stroke="#999"/>']
    for k, r in enumerate(bars):
        y, d = 22 + 18 * k, r.accuracy_delta
        length = max(abs(d) / span * half, 1.0)
        x = mid if d >= 0 else mid - length
        colour = "#d62828" if d < -1 else COLOURS.get(r.format, "#333")
        label = f"{r.format} {r.precision} {r.runtime}"
        parts.append(f'<text x="4" y="{y + 11}" font-size="10">{html.escape(label)}</text>')
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="13" fill="{colour}"/>')
        value_x = mid + length + 4 if d >= 0 else mid + 4
        parts.append(f'<text x="{value_x:.1f}" y="{y + 11}" font-size="10">{signed(d)}</text>')
    return "".join(parts) + "</svg>"


def _status(row: Row, text: str) -> str:
    """The status cell; an int8 row analysed by ``profile --layers`` links its per-layer page."""
    href = report_link(row.layers_report)
    if row.ok and row.unstable:  # the reasons, as report.md gives them
        text = f"{text}: {'; '.join(row.unstable)}"
    if href is None:  # none, or not a page edgecv wrote (a saved row is data: never a javascript:/data: link)
        return html.escape(text)
    return f'{html.escape(text)} · <a href="{html.escape(href)}">layers</a>'


def page(report: dict[str, Any]) -> str:
    rows, env = report_rows(report), report["environment"]
    ok = [r for r in rows if r.ok]
    sections = []
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in ok if r.model == model]
        heads = [r.headline[0] for r in mine if r.headline]
        metric = NAMES.get(heads[0], heads[0]) + " %" if heads else "accuracy"
        plots = [scatter(mine, lambda r: r.p50, "p50 ms (log)", metric, "accuracy vs latency", log_x=True,
                         front=True),
                 scatter(mine, lambda r: r.size_mb, "size MB", metric, "size vs accuracy"),
                 deltas(mine, "change vs fp32 PyTorch (points)")]
        body = "".join(p for p in plots if p) or "<p>No rows with both accuracy and latency.</p>"
        sections.append(f"<section><h2>{html.escape(model)}</h2><div class='plots'>{body}</div></section>")
    head, table = table_rows(rows)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row[:-1]) + f"<td>{_status(r, row[-1])}</td></tr>"
                    for r, row in zip(rows, table))
    chosen = best_picks(rows)
    picks = "".join(f"<li>{html.escape(pick_line(label, r))}</li>" for label, r in chosen)
    warning = unstable_picks(rows) if chosen else None
    warning = f"<p class='unstable'><b>{html.escape(warning)}.</b></p>" if warning else ""
    measured_on = "".join(f"<li>{html.escape(line)}</li>" for line in scored_on_lines(rows))
    measured_on = f"<h2>Accuracy measured on</h2><ul>{measured_on}</ul>" if measured_on else ""
    emulated = " Emulated rows time qemu, not the device." if any(r.emulated for r in rows) else ""
    peaks = "".join(f"<p>{html.escape(peak_line(d, p))}</p>" for d, p in (report.get("peaks") or {}).items())
    facts = "".join(f"<li>{html.escape(line)}</li>" for line in facts_lines(rows))
    facts = f"<h2>Where each file's facts came from</h2><ul>{facts}</ul>" if facts else ""
    legend = ("colour: <b style='color:#555'>pytorch</b> <b style='color:#1f77b4'>onnx</b> "
              "<b style='color:#e4572e'>tflite</b>; mark: ● fp32 ■ fp16 ▲ int8; ringed and dashed: the Pareto front "
              "(nothing else is both faster and more accurate)")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>edgecv profile</title><style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}} td:nth-child(-n+6),th:nth-child(-n+6){{text-align:left}}
.plots{{display:flex;flex-wrap:wrap;gap:16px}} svg{{background:#fafafa;border:1px solid #eee}}</style></head><body>
<h1>edgecv profile</h1><p>edgecv {html.escape(report['edgecv_version'])} on {html.escape(str(env.get('cpu')))}
({env.get('cores')} cores, {html.escape(' '.join(env.get('isa') or []))}), {html.escape(str(env.get('os')))}, Python
{html.escape(str(env.get('python')))}.{emulated}</p>{peaks}<p>{legend}</p>{measured_on}
<h2>Best picks</h2>{warning}<ul>{picks or '<li>none: no variant has an fp32 PyTorch row to compare with</li>'}</ul>
{''.join(sections)}{facts}<h2>All rows</h2><table><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr>{cells}</table>
<p>{html.escape(LEGEND)}</p>
</body></html>
"""
