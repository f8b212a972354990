"""Rich terminal rendering for the CLI (tables and cards). Formatting only: no measuring here."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .metrics import NAMES, headline_of
from .models.card import ModelCard

PIPE_WIDTH = 400  # a CI log or a pipe has no width: tables there are printed whole, never cut to 80 columns


def make_console(**options) -> Console:
    """A console as wide as the terminal; in a pipe or a log, wide enough for every table edgecv prints, so no
    cell is cut with an ellipsis or folded mid-word (a COLUMNS=80 that a CI runner or a test harness exports
    does not narrow it there: a log has no width to fit)."""
    out = Console(**options)
    if not out.is_terminal:
        out = Console(width=max(PIPE_WIDTH, out.width), **options)
    return out


console = make_console()


def human_count(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def reference_text(card: ModelCard, exact: bool = False) -> str:
    ref = card.reference
    if ref is None:
        return "-"
    return f"{ref.value if exact else round(ref.value, 1)} {NAMES.get(ref.metric, ref.metric)}"


def default_weights_text(entry: dict | None, with_data: bool = True) -> str:
    if not entry:
        return "-"
    key, value = headline_of(entry["val"]) or ("?", float("nan"))
    score = f"{value:.1f} {NAMES.get(key, key)}"
    return f"{entry['dataset']} {score}" if with_data else score


def model_table(cards: list[ModelCard], defaults: dict[str, dict]) -> None:
    table = Table(title="edgecv model zoo", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  padding=(0, 1), collapse_padding=True, show_edge=False)
    table.add_column("name", no_wrap=True, min_width=max((len(c.name) for c in cards), default=4))
    for col in ("task", "input", "params", "MACs", "reference", "default"):
        table.add_column(col, justify="left" if col == "task" else "right", no_wrap=True)
    for c in cards:
        task = {"classification": "classify", "detection": "detect", "segmentation": "segment"}.get(c.task, c.task)
        table.add_row(c.name, task, str(c.input_size), human_count(c.params), human_count(c.macs), reference_text(c),
                      default_weights_text(defaults.get(c.name), with_data=False))
    console.print(table)
    console.print("reference: the published accuracy of the architecture (ImageNet-1k; COCO with VOC classes for "
                  "segmentation; `edgecv models NAME` shows its source). default: accuracy of the weights edgecv ships, on "
                  "the val split of the built-in data they were trained on (shapes / shapes-det / shapes-seg).",
                  style="dim")


def card_detail(card: ModelCard, default: dict | None = None) -> None:
    pre = card.preprocess
    rows = [
        ("name", card.name), ("family", card.family), ("task", card.task), ("description", card.description),
        ("input", f"{card.in_chans}x{card.input_size}x{card.input_size} {pre.colour} {pre.layout}"),
        ("preprocess", _preprocess_text(card)),
        ("classes", f"{card.num_classes} ({card.labels or 'class indices'})"),
        ("params", f"{card.params:,d}" if card.params is not None else "-"),
        ("MACs", f"{card.macs:,d} at {card.input_size}x{card.input_size}" if card.macs is not None else "-"),
    ]
    if card.reference is not None:
        ref = card.reference
        top5 = f", top-5 {ref.top5}" if ref.top5 is not None else ""
        top5 += f", pixel acc {ref.pixel_acc}" if ref.pixel_acc is not None else ""
        rows.append(("reference", f"{reference_text(card, exact=True)}{top5} on {ref.dataset}; source: {ref.source}"))
    if default:
        rows.append(("default weights", f"{default_weights_text(default)} at {default['imgsz']}px "
                                        f"(reproduce: {default['command']})"))
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


def _preprocess_text(card: ModelCard) -> str:
    p = card.preprocess
    if p.mode == "center_crop":
        geometry = f"resize {p.resize_size} ({p.interpolation}), centre-crop {p.input_size}"
    elif p.mode == "letterbox":
        geometry = f"letterbox to {p.input_size} (pad {p.pad_value})"
    else:
        geometry = f"resize to {p.input_size} ({p.interpolation})"
    mean = ", ".join(f"{m:.3f}" for m in p.mean)
    std = ", ".join(f"{s:.3f}" for s in p.std)
    return f"{geometry}; /255, mean ({mean}), std ({std})"


def export_table(artifacts) -> None:
    """One row per exported artifact: size against the fp32 file of the same format, and its parity."""
    table = Table(title="edgecv export", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col, just in (("artifact", "left"), ("MB", "right"), ("xfp32", "right"), ("cosine", "right"),
                      ("agree", "right"), ("acc", "right"), ("parity", "left")):
        table.add_column(col, justify=just, no_wrap=col == "artifact")
    fp32 = {a.format: a.size_bytes for a in artifacts if a.precision == "fp32"}
    for a in artifacts:
        p = a.parity or {}
        ratio = f"{a.size_bytes / fp32[a.format]:.2f}" if a.format in fp32 else "-"
        agree = (f"{p['top1_agreement']:.1f}%" if "top1_agreement" in p
                 else f"{p['mask_agreement']:.1f}%" if "mask_agreement" in p
                 else f"{p['box_iou']:.3f}" if "box_iou" in p else "-")
        headline = headline_of(a.accuracy or {})
        acc = f"{headline[1]:.2f}" if headline else "-"
        status = "-" if not p else ("[red]FAIL[/red]" if p["failed"] else "[green]ok[/green]")
        table.add_row(a.path.name, f"{a.size_bytes / 1e6:.2f}", ratio, f"{p['cosine']:.5f}" if p else "-",
                      agree, acc, status)
    console.print(table)
    if any(a.accuracy for a in artifacts):
        console.print("acc: top-1 (classification), mAP50-95 (detection) or mIoU (segmentation) on the val split; "
                      "agree: top-1 agreement, matched-box IoU or pixel agreement with PyTorch", style="dim")


def runtimes_table(rows: list[dict]) -> None:
    table = Table(title="edgecv runtimes", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("runtime", "here", "version", "opens", "providers here", "not here", "on devices"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        here = r.get("providers_here") or []
        missing = [p for p in r.get("providers") or [] if p not in here]
        table.add_row(r["name"], "yes" if r["available"] else "[red]no[/]", r.get("version") or "-",
                      " ".join(r.get("files") or []) or "zoo/ckpt", " ".join(here) or "-", " ".join(missing) or "-",
                      "yes" if r.get("on_devices") else "-")
    console.print(table)
    for r in rows:
        if not r["available"]:
            console.print(f"{r['name']}: {escape(r['reason'])}", soft_wrap=True)


def devices_table(rows: list[dict]) -> None:
    table = Table(title="edgecv devices", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("device", "reach", "cpu", "cores", "GHz", "ISA", "GB"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        reach = r["reach"]
        if r.get("emulated"):
            reach += " (ready)" if r.get("emulation_ready") else " (set up on first use)"
        cells = (r["name"], reach, r.get("cpu", "-"), r.get("cores", "-"), r.get("clock_ghz", "-"),
                 " ".join(r.get("isa", [])) or "-", r.get("memory_gb", "-"))
        table.add_row(*(escape(str(c)) for c in cells))  # profiles are user files: no rich markup
    console.print(table)
