"""Measure one cell, in a process of its own.

A cell opens its artifact on its runtime and device, times it (first call, then warm-up and timed calls),
measures batch-N throughput when asked, scores accuracy when the metadata (or ``--data``) says how, and
reports its process's peak memory. Run through ``run_isolated``, a crash or a hang of the runtime fails
this row only, with the reason, and never the whole profile.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
import traceback
from pathlib import Path
from typing import Any

from ..formats import REFERENCE, REFERENCE_RUNTIME
from ..model_files import model_bytes
from .row import ACCURACY_KEYS, Row

STARTUP_S = 120.0  # allowed for a cell process to start before its own timeout begins


def empty_row(cell: dict[str, Any]) -> Row:
    """The cell's row before anything is measured: a failed row until ``measure_cell`` says otherwise."""
    info = cell.get("info", {})
    return Row(cell["model"], cell["format"], cell["precision"], cell["runtime"], cell["provider"], cell["device"],
               cell["imgsz"], cell["batch"], task=info.get("task"), target=cell["target"],
               size_mb=info.get("size_mb"), params=info.get("params"), macs=info.get("macs"))


def measure_cell(cell: dict[str, Any], settings: dict[str, Any]) -> Row:
    """The row for ``cell``; raises on failure (the caller turns that into a failed row)."""
    from ..runtimes import load
    from .latency import describe_inputs, measure, peak_memory_mb, synthetic_inputs
    from .stability import Load, unstable_reasons

    row = empty_row(cell)
    if cell.get("info", {}).get("export_error"):
        raise RuntimeError(f"export failed: {cell['info']['export_error']}")
    from ..interop import Facts, unscorable

    options = {"imgsz": cell["imgsz"]} if cell["runtime"] == REFERENCE_RUNTIME and cell["imgsz"] else {}
    if cell["runtime"] == "openvino":  # its performance hint (latency: one stream; throughput: many)
        options["hint"] = settings.get("hint") or "latency"
    threads = settings["threads"]
    if threads is None and cell["device"] == "host":  # the default: a thread per core other work leaves free
        from .stability import free_cores

        threads, _ = free_cores()
    row.threads = threads
    facts = Facts.from_dict(settings.get("facts"))
    with load(cell["target"], cell["runtime"], cell["provider"], cell["device"], threads, facts,
              **options) as session:
        meta = session.metadata or {}
        row.emulated, row.init_ms, row.task = session.emulated, session.init_ms, row.task or meta.get("task")
        row.sources = dict(meta.get("sources") or {}) or None
        row.execution = dict(session.execution) if session.execution else None
        if cell["format"] != REFERENCE:
            row.size_mb = model_bytes(cell["target"]) / 1e6  # external data (FILE.onnx.data) included
        stated = (meta.get("preprocess") or {}).get("input_size")
        if row.imgsz is None and stated:
            row.imgsz = stated
        shapes = {name: list(dims) for name, dims in cell.get("shapes") or ()}
        # a dynamic file is timed at the size it is scored at: --imgsz, else the size its metadata states
        inputs, notes = synthetic_inputs(session, 1, imgsz=_hw(cell["imgsz"] or stated), overrides=shapes)
        row.inputs = describe_inputs(session, inputs)
        row.notes += notes
        watch = Load()
        timing = measure(session, inputs, settings["warmup"], settings["iters"], settings["min_time_s"])
        row.load = watch.stop() if cell["device"] == "host" else None  # a board's load is not ours to see
        row.first_ms, row.latency_ms = timing["first_ms"], timing["latency_ms"]
        row.throughput_ips = timing["throughput_ips"]
        row.unstable = unstable_reasons(timing["latency_ms"], row.load, threads)
        concurrent = session.throughput(session.prepare(inputs), max(1.0, settings["min_time_s"]))
        if concurrent is not None:  # requests in flight at once (OpenVINO's throughput hint)
            row.throughput_ips = concurrent
        batch = cell["batch"]
        if batch > 1:
            fixed = (session.inputs[0].shape or [None])[0]
            if fixed not in (None, batch):
                raise ValueError(f"the model's batch is fixed at {fixed}; export it with --batch {batch}")
            many, _ = synthetic_inputs(session, batch, imgsz=_hw(cell["imgsz"] or stated), overrides=shapes)
            timed = measure(session, many, 2, max(5, settings["iters"] // 4), settings["min_time_s"] / 2)
            row.throughput_ips = timed["throughput_ips"]
        row.peak_mem_mb = peak_memory_mb()  # before scoring: the evaluator's own imports are not the model's
        row.notes += _numerics_notes(cell, meta)
        data = settings["data"] or cell.get("info", {}).get("data") or (meta.get("source") or {}).get("data")
        why = unscorable(meta, Path(str(cell["target"])).name)
        if why and settings["data"]:  # --data means accuracy: a row that cannot be scored fails, with the reason
            raise ValueError(f"no accuracy on {settings['data']}: {why}")
        if why:
            row.notes.append(f"no accuracy: {why}")
        elif data:
            scores = _accuracy(session, data, settings["limit"])
            for name, value in scores.items():
                if name in ACCURACY_KEYS:
                    setattr(row, name, value)
            row.scored_on = {"data": str(data), "split": "val", "images": scores.get("images")}
        if settings.get("track") and row.task == "detection":  # the detector + tracker pipeline (track.py)
            if not why:
                from ..track import builtin_summary

                row.tracking = builtin_summary(session, settings["track"])
            else:
                row.notes.append(f"no tracking: {why}")
    row.status = "ok"
    return row


def _hw(imgsz: Any) -> tuple[int, int] | None:
    """A cell's ``imgsz`` (640, or "480x640" for a file) as ``(height, width)``."""
    from ..portable.shapes import parse_hw

    return None if imgsz is None else parse_hw(imgsz)


def _numerics_notes(cell: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """A host whose int8 arithmetic differs from an ARM board's says so on its int8 ONNX rows (not on files
    exported with --reduce-range, whose 7-bit weights cannot saturate)."""
    from ..devices import get_device

    if cell["device"] != "host" or cell["runtime"] != "onnxruntime" or not str(cell["precision"]).startswith("int8"):
        return []
    if (meta.get("calibration") or {}).get("reduce_range"):
        return []
    if not get_device("host").int8_saturates:
        return []
    return ["int8 numerics differ from a board's: this x86 CPU has no VNNI, and onnxruntime's uint8 x int8 "
            "kernels can saturate here (ARM's do not); export with --reduce-range for the board's arithmetic"]


def _accuracy(session, data: str, limit: int | None) -> dict[str, float]:
    """The row's accuracy figures and how many images they were measured on."""
    from ..scoring import score

    return {k: v for k, v in score(session, data, limit).items() if k in ACCURACY_KEYS or k == "images"}


def _child(conn, cell: dict[str, Any], settings: dict[str, Any]) -> None:
    import importlib

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no traceback from here
    for module in ("numpy", "edgecv.devices", "edgecv.runtimes"):  # edgecv's own start-up, outside the timeout
        importlib.import_module(module)
    conn.send("started")
    try:
        row = measure_cell(cell, settings)
    except Exception as exc:  # any failure becomes this row's reason, in one line
        row = empty_row(cell)
        row.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if settings.get("debug"):
            row.extra["traceback"] = traceback.format_exc()
    conn.send(row)
    conn.close()


def run_isolated(cell: dict[str, Any], settings: dict[str, Any], timeout_s: float) -> Row:
    """``measure_cell`` in a fresh process; a crash or a timeout comes back as a failed row."""
    ctx = multiprocessing.get_context("spawn")  # nothing inherited: a clean runtime per cell
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(send, cell, settings), daemon=True)
    start = time.perf_counter()
    process.start()
    send.close()
    try:
        return _wait(process, receive, cell, timeout_s, start)
    finally:  # Ctrl-C or SIGTERM while waiting: the cell's process never outlives its parent's run
        if process.is_alive():
            process.kill()
            process.join(timeout=10)


def _wait(process, receive, cell: dict[str, Any], timeout_s: float, start: float) -> Row:
    row, started = None, False
    try:
        # Start-up (a fresh interpreter importing edgecv) is slow on a loaded machine and is not the cell's
        # fault; the timeout runs from the moment the child says it has started.
        started = receive.poll(max(STARTUP_S, timeout_s)) and receive.recv() == "started"
        if started and receive.poll(timeout_s):
            row = receive.recv()
    except EOFError:
        pass  # the process died without a word: reported below
    if row is None:
        if process.is_alive():
            process.kill()
            process.join()
            reason = f"timed out after {timeout_s:.0f} s" if started else "the cell's process did not start"
        else:
            process.join()
            reason = _death(process.exitcode)
        row = empty_row(cell)
        row.error = reason
    process.join(timeout=10)
    row.seconds = round(time.perf_counter() - start, 2)
    return row


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"the runtime crashed ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"the runtime's process ended with exit code {code}"
