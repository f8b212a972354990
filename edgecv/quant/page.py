"""An ``edgecv layers`` report as a self-contained HTML page (``edgecv layers --html``, and the page each int8
row of ``edgecv profile --layers`` links to)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

POOR_DB = 20.0  # below this SQNR a layer's output has fewer than ~3.3 clean bits: drawn red


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def layers_page(report: dict[str, Any]) -> str:
    """Every layer in graph order, with its SQNR drawn as a bar (red under ``POOR_DB``)."""
    layers = report["layers"]
    finite = [la["sqnr_db"] for la in layers if la["sqnr_db"] != float("inf")]
    top = max(finite, default=1.0) or 1.0
    acc = report.get("accuracy")
    rows = []
    for la in layers:
        db = la["sqnr_db"]
        width = 120 if db == float("inf") else max(1.0, 120 * max(db, 0.0) / top)
        colour = "#d62828" if db < POOR_DB else "#1f77b4"
        bar = f'<svg width="124" height="10"><rect width="{width:.1f}" height="10" fill="{colour}"/></svg>'
        share = None if la.get("share") is None else 100 * la["share"]
        cells = [html.escape(la["name"]), html.escape(la["op"]), f"{db:.2f} {bar}", _cell(la["cosine"], ".4f"),
                 _cell(la.get("ms"), ".3f"), _cell(share, ".1f")]
        if acc:
            cells.append(_cell(la.get("float_gain"), "+.2f"))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = ["layer", "op", "SQNR dB", "cosine", "ms", "share %"] + (["float +"] if acc else [])
    summary = (f"<p>{html.escape(acc['metric'])} on {acc['eval_images']} val images: fp32 {acc['fp32']:.2f}, int8 "
               f"{acc['int8']:.2f}; <i>float +</i> is what keeping just that layer in float wins back.</p>" if acc else "")
    worst = sorted(layers, key=lambda la: la["sqnr_db"])[:5]
    names = ", ".join(html.escape(la["name"]) for la in worst)
    title = f"{Path(report['artifact']).name} vs {Path(report['reference']).name}"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}} td:nth-child(-n+2),th:nth-child(-n+2){{text-align:left}}
</style></head><body><h1>{html.escape(title)}</h1>
<p>{len(layers)} quantized layers on {report['images']} {html.escape(str(report['data']))} val images, in graph order.
SQNR is the output's signal-to-quantization-noise ratio as the next layer reads it (about 6 dB a bit; the error
builds up along the graph, so a sharp fall from one layer to the next points at the culprit); red is under
{POOR_DB:g} dB. ms and share are the layer's kernel time in the int8 model (onnxruntime's profiler; LiteRT times no
single op). Lowest SQNR: {names}.</p>{summary}
<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{''.join(rows)}</table></body></html>
"""


__all__ = ["layers_page"]
