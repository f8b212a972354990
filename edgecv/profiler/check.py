"""``edgecv check``: compare a profile with a committed baseline and fail on regressions.

Rows are matched by their key (``Row.identity``: model, format, precision, runtime, provider, device, imgsz,
batch and any --input-shape). A row fails when its accuracy fell by more than the allowed drop (top-1 for
classifiers, mAP50-95 for detectors, mIoU for segmentation; limits are fractions, so 0.01 is one point of
top-1), when its file grew beyond the allowed ratio, when it failed, or when it vanished. Latency growth is
checked only when asked, as a ratio, since CI machines are noisy. New rows are reported, never failed.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .cells import md_cell, xml_text
from .row import ACCURACY_KEYS, KEY_FIELDS, Row


@dataclass
class Limits:
    max_drop: float = 0.01
    max_drop_map: float = 0.015
    max_size_growth: float = 0.05
    max_latency_growth: float | None = None


@dataclass
class Verdict:
    key: str
    status: str  # pass, fail, new
    reasons: list[str] = field(default_factory=list)
    before: Row | None = None
    after: Row | None = None

    @property
    def row(self) -> Row:
        return self.before or self.after  # type: ignore[return-value]

    @property
    def name(self) -> str:
        return " ".join(str(v) for v in self.key.split("|") if v not in ("None", "cpu", "host", "1"))


REPORT_MAX_BYTES = 256 * 2**20  # a profile of thousands of rows is a few MB


def read_report(path: str | Path, what: str = "baseline") -> dict[str, Any]:
    """A file written by ``edgecv profile --json`` (or ``results.json``); anything else is a usage error."""
    from ..resources import read_limited

    text = read_limited(path, what, REPORT_MAX_BYTES)  # a regular file of bounded size: never /dev/zero
    try:
        report = json.loads(text)
        for row in map(Row.from_dict, report["rows"]):
            _check_types(row, finite=what == "baseline")
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{what} {path} is not an edgecv profile report ({type(exc).__name__}: {exc})") from None
    return report


def _check_types(row: Row, finite: bool) -> None:
    """What ``compare`` reads must be what it claims to be (a baseline is data from anywhere). A baseline's
    figures must be finite too; a current report's non-finite figure fails its row in ``compare`` instead."""
    for name in KEY_FIELDS:
        getattr(row, name)
    for name, value in (("size_mb", row.size_mb), ("p50", row.p50 if isinstance(row.latency_ms, dict) else None),
                        ("accuracy", row.accuracy)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError(f"a row's {name} is {value!r}, not a number")
        if finite and value is not None and not math.isfinite(value):
            raise ValueError(f"a row's {name} is {value!r}, not a finite number")
    if row.latency_ms is not None and not isinstance(row.latency_ms, dict):
        raise TypeError("a row's latency_ms is not an object")


def compare(baseline: dict[str, Any], current: dict[str, Any], limits: Limits) -> list[Verdict]:
    before = {r.identity: r for r in map(Row.from_dict, baseline["rows"])}
    after = {r.identity: r for r in map(Row.from_dict, current["rows"])}
    verdicts = []
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            verdicts.append(Verdict(key, "fail", ["row missing from the current profile"], old, None))
            continue
        reasons = []
        if not new.ok:
            reasons.append(f"failed: {new.error}")
        elif _non_finite(new):
            reasons.append(f"{_non_finite(new)} is not a finite number: nothing to gate on")
        elif old.ok:
            reasons += _regressions(old, new, limits)
        verdicts.append(Verdict(key, "fail" if reasons else "pass", reasons, old, new))
    verdicts += [Verdict(key, "new", [], None, new) for key, new in after.items() if key not in before]
    return verdicts


def _non_finite(row: Row) -> str | None:
    """The first figure of a row that is NaN or infinite (a NaN passes every comparison, so it must fail here)."""
    values = {"size_mb": row.size_mb, "p50": row.p50}
    for name in ACCURACY_KEYS:
        values[name] = getattr(row, name, None)
    for name, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value):
            return name
    return None


def _regressions(old: Row, new: Row, limits: Limits) -> list[str]:
    reasons = []
    m_old, m_new = old.headline, new.headline
    if m_old:
        name, was = m_old
        now = m_new[1] if m_new and m_new[0] == name else None
        allowed = 100 * (limits.max_drop_map if name == "map50_95" else limits.max_drop)  # fractions -> points
        if now is None:
            reasons.append(f"{name} no longer measured (was {was:.2f})")
        elif was - now > allowed + 1e-9:
            reasons.append(f"{name} {was:.2f} -> {now:.2f} (-{was - now:.2f} points, limit {allowed:.2f})")
    if old.size_mb and new.size_mb:
        growth = new.size_mb / old.size_mb - 1
        if growth > limits.max_size_growth + 1e-9:
            reasons.append(f"size {old.size_mb:.2f} -> {new.size_mb:.2f} MB (+{growth:.1%}, "
                           f"limit +{limits.max_size_growth:.0%})")
    if limits.max_latency_growth is not None and old.p50 and new.p50:
        was, now = old.p50, new.p50
        if now / was - 1 > limits.max_latency_growth + 1e-9:
            reasons.append(f"p50 {was:.3f} -> {now:.3f} ms (x{now / was:.2f}, limit x{1 + limits.max_latency_growth:.2f})")
    return reasons


def _cell(row: Row | None) -> str:
    if row is None:
        return "-"
    if not row.ok:
        return "failed"
    acc = f"{row.accuracy:.2f}" if row.accuracy is not None else "-"
    size = f"{row.size_mb:.2f} MB" if row.size_mb else "-"
    p50 = f"{row.p50:.3f} ms" if row.p50 else "-"
    return f"{acc} / {size} / {p50}"


def markdown(verdicts: list[Verdict], limits: Limits) -> str:
    failed = [v for v in verdicts if v.status == "fail"]
    head = (f"## edgecv check: {'FAILED' if failed else 'passed'}\n\n{len(failed)} regression(s) in "
            f"{sum(v.status != 'new' for v in verdicts)} baseline rows, {sum(v.status == 'new' for v in verdicts)} new. "
            f"Limits: top-1 or mIoU drop {100 * limits.max_drop:.2f}, mAP drop {100 * limits.max_drop_map:.2f} points, "
            f"size +{limits.max_size_growth:.0%}"
            + (f", p50 +{limits.max_latency_growth:.0%}" if limits.max_latency_growth is not None else "") + ".\n\n")
    lines = ["| row | status | before (acc / size / p50) | after | why |", "|---|---|---|---|---|"]
    order = {"fail": 0, "new": 1, "pass": 2}
    for v in sorted(verdicts, key=lambda v: order.get(v.status, 3)):
        lines.append(f"| {md_cell(v.name)} | {v.status} | {_cell(v.before)} | {_cell(v.after)} | "
                     f"{md_cell('; '.join(v.reasons))} |")
    return head + "\n".join(lines) + "\n"


def junit(verdicts: list[Verdict]) -> bytes:
    """One testcase per baseline row (new rows as skipped), a failure element per regression."""
    cases = [v for v in verdicts]
    suite = ET.Element("testsuite", name="edgecv check", tests=str(len(cases)),
                       failures=str(sum(v.status == "fail" for v in cases)),
                       skipped=str(sum(v.status == "new" for v in cases)))
    for v in cases:
        case = ET.SubElement(suite, "testcase", classname=xml_text(f"edgecv.{v.row.model}"), name=xml_text(v.name))
        if v.status == "fail":
            failure = ET.SubElement(case, "failure", message=xml_text("; ".join(v.reasons)))
            failure.text = xml_text(f"before: {_cell(v.before)}\nafter: {_cell(v.after)}")
        elif v.status == "new":
            ET.SubElement(case, "skipped", message="new row: not in the baseline")
    return ET.tostring(ET.ElementTree(suite).getroot(), encoding="utf-8", xml_declaration=True)
