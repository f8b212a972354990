"""``edgecv.profile``: from a ``ProfileSpec``, build the cells, export what needs exporting, measure each cell in isolation, save
each row as it finishes (``rows.jsonl`` in ``out``; a rerun resumes), and write the reports."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._version import __version__
from ..artifact import writable
from ..errors import EdgecvError, UsageError
from ..formats import (
    DEFAULT_PRECISIONS,
    REFERENCE,
    REFERENCE_RUNTIME,
    format_names,
    format_of,
    suffix_of,
)
from ..formats import precisions as known_precisions
from ..portable.errors import DeviceError
from ..portable.shapes import parse_hw
from ..portable.shapes import parse_input_shapes as parse_shapes_text
from ..resources import cap_threads, cores
from .executor import this_node
from .folder import append_row, claim, read_rows
from .matrix import Cell, expand_files, export_key, file_digest, fingerprint
from .peak import efficiency
from .row import Row
from .spec import ProfileSpec

Log = Callable[[str], None]


def profile(targets: Sequence[str] | None = None, *, spec: ProfileSpec | None = None, out: str | Path = "profile",
            timeout_s: float = 900.0, layers: bool = False, log: Log = print,
            on_start: Callable[[int, list[str]], None] | None = None,
            on_row: Callable[[Row, int, int], None] | None = None, executor: str = "local",
            ray_address: str | None = None, resume: bool = True, remeasure: str | None = None,
            **settings: Any) -> dict[str, Any]:
    """Measure every target x format x precision x runtime x provider x device; returns the report dict
    (``{"edgecv_version", "environment", "matrix", "peaks", "runs", "rows", "out"}``, rows as
    ``Row.to_dict()``), also written to ``out``.

    What to measure is a ``ProfileSpec``, or its fields as keywords (``format="onnx,tflite"``,
    ``imgsz=320``, ``input_shapes=["images=1x3x640x640"]``, ...). ``imgsz`` is a square size or ``"HxW"``:
    zoo models are exported at it; files with a dynamic height/width are fed at it (default: what the file
    fixes, else 640). ``on_start(n, runtimes)`` is called once the cells are known (exports done; each cell's
    runtime), ``on_row(row, k, n)`` after each. With ``layers``, each int8 file also gets an ``edgecv layers``
    report, linked from its rows (``layers.py``). ``executor`` says where the cells run: ``local`` (here, one
    at a time) or ``ray`` (tasks on the Ray cluster at ``ray_address``; ``executor.py``). The exports are made
    here either way. Rows saved in ``out`` by an earlier run on this machine are resumed (``folder.py``: only
    rows sealed here); with ``resume=False`` every cell is measured in this run (``edgecv check``: a gate
    measures what it gates) and the earlier rows are kept aside as ``rows.previous.jsonl``. ``remeasure``
    (``unstable``, ``failed`` or ``all``) measures those saved rows again in the same folder, keeping the others."""
    if remeasure is not None and remeasure not in REMEASURE:
        raise UsageError(f"--remeasure takes {', '.join(REMEASURE)}, not {remeasure!r}")
    spec = spec or ProfileSpec.of(targets, **settings)
    known_formats = (REFERENCE, *format_names())
    formats, precisions = list(spec.format or known_formats), list(spec.precision or DEFAULT_PRECISIONS)
    for f in formats:
        if f not in known_formats:
            raise UsageError(f"unknown format {f!r} (choose from {', '.join(known_formats)})")
    for p in precisions:
        if p not in known_precisions():
            raise UsageError(f"unknown precision {p!r} (choose from {', '.join(known_precisions())})")
    size = parse_imgsz(spec.imgsz)
    shapes = parse_input_shapes(spec.input_shapes)
    if spec.data:
        _check_data(spec.data)
    from ..runtimes import get_runtime

    for name in spec.runtime or ():
        get_runtime(name)  # an unknown runtime is named by the registry, before any work
    # --threads N: every runtime, PyTorch included, times with N. Without it each host cell takes a thread per
    # core that other work leaves free when it starts (stability.free_cores; recorded in the row): on a busy
    # machine two threads that share a core with other work cost every runtime 1.4-2.6x (busy_threads.py)
    threads = cap_threads(spec.threads) if spec.device == ("host",) else spec.threads
    if threads is None and spec.device != ("host",):
        threads = cores()  # a board's threads are its own; the host's load says nothing about it
    if spec.format is None:  # the default: every format this machine can export and run
        formats = _usable_formats(formats, log)
    spec = spec.replace(imgsz=size, threads=threads)  # recorded as measured: what `edgecv check` re-profiles
    matrix = spec.to_dict()
    with claim(Path(out), lambda recorded: _same_spec(recorded, spec), log) as out:
        return _measure(spec, out, matrix, formats, precisions, size, shapes, threads, timeout_s, layers, log,
                        on_start, on_row, executor, ray_address, resume, remeasure)


REMEASURE = ("unstable", "failed", "all")


def _check_data(data: str) -> None:
    """``--data`` that cannot be read is said before any export or cell (each row failed with it, minutes later)."""
    from ..data import get_dataset
    from ..errors import DataError

    try:
        get_dataset(data, "val", limit=1)
    except DataError as exc:
        raise UsageError(f"--data {data}: {exc}") from None


def _again(row: Row, remeasure: str | None) -> bool:
    """Whether a saved row is measured again (``--remeasure``)."""
    return (remeasure == "all" or (remeasure == "unstable" and row.ok and bool(row.unstable))
            or (remeasure == "failed" and not row.ok))


def _measure(spec: ProfileSpec, out: Path, matrix: dict[str, Any], formats: list[str], precisions: list[str],
             size: int | str | None, shapes: tuple, threads: int | None, timeout_s: float, layers: bool, log: Log,
             on_start: Callable[[int, list[str]], None] | None, on_row: Callable[[Row, int, int], None] | None, executor: str,
             ray_address: str | None, resume: bool, remeasure: str | None = None) -> dict[str, Any]:
    """The run itself, in the claimed (locked) folder ``out``."""
    from .environment import environment
    from .executor import get_executor

    writable(out)  # before any export: a read-only or missing --out is said now, not after minutes
    runner = get_executor(executor, ray_address, log)  # a missing Ray or an unreachable cluster: before exports too
    with runner:  # a Ray instance it started is shut down however the profile ends
        settings = spec.settings
        cells = build_cells(list(spec.targets), formats, precisions, list(spec.runtime or ()),
                            list(spec.provider or ()), list(spec.device), spec.data, size, spec.batch, log, shapes)
        data_cache: dict = {}
        prints = {c.key: fingerprint(c, settings, __version__, data_cache) for c in cells}
        saved = out / "rows.jsonl"
        refused: list[str] = []
        if not resume and saved.is_file():
            saved.replace(out / "rows.previous.jsonl")
            log(f"measuring every row in this run; the rows saved in {out}/ before are kept as rows.previous.jsonl")
        done = read_rows(saved, refused)
        if refused:
            log(f"measuring {len(refused)} saved row(s) in {saved} anew: they carry no seal of this machine's "
                "edgecv (copied from elsewhere, edited, or from an older edgecv), so their numbers are not reused")
        todo = [c for c in cells if (done[c.key].fingerprint if c.key in done else None) != prints[c.key]]
        stale = [c for c in todo if c.key in done]
        again = [c for c in cells if c not in todo and _again(done[c.key], remeasure)]
        if remeasure:
            which = "" if remeasure == "all" else f" {remeasure}"
            log(f"measuring {len(again)} saved{which} row(s) again (--remeasure {remeasure}); the others are kept")
            todo = [c for c in cells if c in todo or c in again]
        if done:
            log(f"resuming: {len(cells) - len(todo)} of {len(cells)} rows already measured in {saved}")
        if stale:
            log(f"measuring {len(stale)} saved row(s) again: they were measured on other files, weights or "
                f"settings (first: {stale[0].model} {stale[0].format} {stale[0].precision})")
        if on_start:
            on_start(len(todo), [c.runtime for c in todo])
        run_id = time.strftime("%Y-%m-%dT%H:%M:%S")
        peaks, host = Peaks(threads, run_id, log), this_node()["hostname"]
        for k, (cell, row) in enumerate(runner.run(todo, settings, timeout_s), 1):
            row.key, row.fingerprint, row.run = cell.key, prints[cell.key], run_id
            # the GEMM peak is this machine's: a row timed on another node gets no efficiency against it
            here = row.node is None or row.node.get("hostname") == host
            row.peak = peaks.get(row.device) if row.ok and row.macs and here else None
            row.efficiency = efficiency(row, row.peak)
            append_row(saved, row.to_dict())
            done[cell.key] = row
            if on_row:
                on_row(row, k, len(todo))
        rows = [done[c.key] for c in cells]
        _derive(rows)
        if layers:
            from .layers import attach_layer_reports

            attach_layer_reports(rows, out, spec.data, threads or cores(), log)
        runs = sorted({r.run or "an earlier edgecv" for r in rows})
        if len(runs) > 1:
            log(f"the rows come from {len(runs)} runs ({', '.join(runs)}); each row's efficiency is against the "
                "peak measured in its own run")
        report = {"edgecv_version": __version__, "environment": environment(threads), "matrix": matrix,
                  "peaks": peaks.measured, "runs": runs, "rows": [r.to_dict() for r in rows], "out": str(out)}
        from .report import write_reports

        write_reports(report, out)
    return report


def _same_spec(recorded: Any, spec: ProfileSpec) -> bool:
    """Whether a folder's recorded matrix is this profile (also when an older edgecv wrote it)."""
    try:
        return ProfileSpec.from_dict(recorded, "the folder's report", allow_modules=spec.targets,
                                     allow_devices=spec.device) == spec
    except UsageError:
        return False


def parse_imgsz(imgsz: int | str | None) -> int | str | None:
    """``640`` or ``"640"`` -> 640; ``"480x640"`` -> ``"480x640"`` (a file's height x width): a row's imgsz."""
    if imgsz is None:
        return None
    try:
        h, w = parse_hw(imgsz)
    except DeviceError as exc:
        raise UsageError(str(exc)) from None
    return h if h == w else f"{h}x{w}"


def parse_input_shapes(items: Sequence[str]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``["images=1x3x640x640"]`` -> ``(("images", (1, 3, 640, 640)),)``, sorted: part of a cell's key."""
    try:
        shapes = parse_shapes_text(items)
    except DeviceError as exc:
        raise UsageError(str(exc)) from None
    return tuple(sorted((name, tuple(dims)) for name, dims in shapes.items()))


class Peaks:
    """Each device's GEMM peak, measured once per run when a row first needs it, and stamped with the run."""

    def __init__(self, threads: int | None, run_id: str, log: Log) -> None:
        self.threads, self.run_id, self.log = threads, run_id, log
        self.measured: dict[str, Any] = {}
        self.failed: set[str] = set()

    def get(self, device: str) -> dict[str, Any] | None:
        from .peak import measure_peak

        if device not in self.measured and device not in self.failed:
            try:
                self.measured[device] = {**measure_peak(device, self.threads), "run": self.run_id}
                busy = self.measured[device].get("busy")
                if busy:
                    self.log(f"the peak GEMM rate of {device} was measured while other work used "
                             f"{busy['others_cores']:.1f} cores ({busy['tries']} tries): efficiency left empty")
            except (EdgecvError, ImportError) as exc:  # the GEMM runs on onnxruntime (pip install 'edgecv[onnx]')
                self.log(f"no peak GEMM rate for {device} ({exc}); efficiency left empty")
                self.failed.add(device)
        return self.measured.get(device)


def _usable_formats(formats: list[str], log: Log) -> list[str]:
    import importlib.util

    from ..exporters import get_exporter
    from ..runtimes import get_runtime

    usable = []
    for fmt in formats:
        runtimes = [get_runtime(n) for n in _runtimes(fmt, [])]
        exporter = None if fmt == REFERENCE else get_exporter(fmt)
        missing = [m for m in (exporter.requires if exporter else ()) if importlib.util.find_spec(m) is None]
        if not any(rt.available()[0] for rt in runtimes) or missing:
            extra = exporter.extra if exporter else "dev"
            log(f"leaving out {fmt}: its toolchain is not installed here (pip install 'edgecv[{extra}]')")
            continue
        usable.append(fmt)
    return usable


def build_cells(targets: list[str], formats: list[str], precisions: list[str], runtimes: list[str],
                providers: list[str], devices: list[str], data: str | None, imgsz: int | str | None, batch: int,
                log: Log, shapes: tuple = ()) -> list[Cell]:
    from ..devices import get_device
    from ..runtimes import get_runtime

    for name in devices:
        get_device(name)  # unknown devices fail before any work
    cells: list[Cell] = []
    for target in targets:
        files = expand_files(target)
        if files:
            for path in files:
                cells += _file_cells(path, formats, runtimes, providers, devices, imgsz, batch, shapes)
        else:
            if shapes:
                raise UsageError(f"--input-shape applies to model files; {target} is exported at --imgsz")
            if isinstance(imgsz, str):
                raise UsageError(f"zoo models are exported square: --imgsz N, not {imgsz} (HxW is for files)")
            cells += _zoo_cells(target, formats, precisions, runtimes, providers, devices, data, imgsz, batch, log)
    runnable = []
    for cell in cells:
        rt = get_runtime(cell.runtime)
        if cell.device != "host" and not rt.on_device:
            log(f"skipping {cell.model} on {cell.runtime} for {cell.device}: that runtime runs on the host only")
            continue
        if cell.device != "host" and not runtimes and not rt.default_on_boards:
            continue  # a board runs it when asked (--runtime), not by default
        runnable.append(cell)
    if not runnable:
        raise UsageError("nothing to profile: no target, format, runtime and device combination applies")
    return runnable


def _providers(runtime: str, wanted: list[str]) -> list[str]:
    from ..runtimes import get_runtime

    rt = get_runtime(runtime)
    here = rt.available_providers() if rt.available()[0] else list(rt.providers[:1])
    chosen = [p for p in (wanted or here) if p in rt.providers]
    return [p for p in chosen if p in here or wanted]  # an explicitly wanted provider is tried (and may fail)


def _runtimes(fmt: str, wanted: list[str]) -> list[str]:
    """The runtimes that open a format's files (by suffix; the reference format runs on torch)."""
    from ..runtimes import get_runtime, runtime_names

    if fmt == REFERENCE:
        names = [REFERENCE_RUNTIME]
    else:
        suffix = suffix_of(fmt)
        names = [n for n in runtime_names() if suffix in get_runtime(n).suffixes]
    if wanted:
        return [n for n in names if n in wanted]
    # the default: the runtimes installed here (ONNX files also on OpenVINO when it is); with none, the first,
    # whose row then says what to install
    return [n for n in names if get_runtime(n).available()[0]] or names[:1]


def _file_cells(path: Path, formats: list[str], runtimes: list[str], providers: list[str], devices: list[str],
                imgsz: int | str | None, batch: int, shapes: tuple) -> list[Cell]:
    from ..artifact import read_metadata

    fmt = format_of(path)
    if fmt not in formats:
        return []
    try:
        meta = read_metadata(path) or {}
    except EdgecvError:
        meta = {}  # unreadable metadata: the cell itself will report what is wrong with the file
    model = meta.get("model") or path.stem
    precision = meta.get("precision") or "-"
    imgsz = imgsz or (meta.get("preprocess") or {}).get("input_size")
    info = {"task": meta.get("task")}
    return [Cell(model, fmt, precision, rt, p, d, imgsz, batch, str(path), info, shapes)
            for rt in _runtimes(fmt, runtimes) for p in _providers(rt, providers) for d in devices]


def _zoo_cells(target: str, formats: list[str], precisions: list[str], runtimes: list[str], providers: list[str],
               devices: list[str], data: str | None, imgsz: int | None, batch: int, log: Log) -> list[Cell]:
    from ..cache import cache_dir
    from ..exporters.api import state_dict_digest
    from ..models.complexity import count_macs, count_params
    from ..models.resolve import load_target

    if not Path(target).suffix:
        from ..models import get_card

        get_card(target)  # an unknown name is named as such, before anything about weights
    try:
        net = load_target(target, require_weights=True)
    except UsageError as exc:
        if "no default weights" in str(exc):  # profile takes no --weights: say what works instead
            raise UsageError(f"{target} has no default weights: profile a checkpoint from edgecv train, or "
                             "export it with --weights and profile the files") from None
        raise
    card = net.card
    size = imgsz or card.preprocess.input_size
    from ..resources import check_memory

    check_memory(f"{card.name} at {size}px (batch {batch})", batch, size)  # before the MAC count runs the model
    data = data or (getattr(net, "checkpoint_meta", None) or {}).get("dataset")
    params = count_params(net)
    weights = state_dict_digest(net)
    info = {"task": card.task, "params": params, "macs": count_macs(net, size, card.in_chans), "data": data,
            "size_mb": params * 4 / 1e6}  # the PyTorch row's size: its fp32 weights
    cells = []
    if REFERENCE in formats:
        for rt in _runtimes(REFERENCE, runtimes):
            cells += [Cell(card.name, REFERENCE, "fp32", rt, p, d, size, batch, target, {**info, "digest": weights})
                      for p in _providers(rt, providers) for d in devices]
    formats = [f for f in formats if f != REFERENCE and _runtimes(f, runtimes)]
    if not formats:
        return cells
    folder = cache_dir("exports") / f"{card.name}-{export_key(target, weights, size, batch, __version__, data)}"
    files = _export(net, target, formats, precisions, data, folder, size, batch, log)
    for (fmt, prec), (path, error) in files.items():
        for rt in _runtimes(fmt, runtimes):
            cell_info = {**info, "size_mb": None, "export_error": error}
            cells += [Cell(card.name, fmt, prec, rt, p, d, size, batch, str(path), cell_info)
                      for p in _providers(rt, providers) for d in devices]
    return cells


def _export(net, target: str, formats: list[str], precisions: list[str], data: str | None, folder: Path,
            size: int, batch: int, log: Log) -> dict[tuple[str, str], tuple[Path, str | None]]:
    """Export what the cache folder lacks; ``(format, precision) -> (path, export error or None)``."""
    from ..artifact import artifact_name, write_atomic
    from ..exporters.api import export

    wanted = {(f, p): folder / artifact_name(net.card.name, size, p, f, batch) for f in formats for p in precisions}
    record = folder / "digests.json"  # what each cached file held when edgecv wrote it
    try:
        known = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
    except (OSError, ValueError):
        known = {}
    for path in wanted.values():
        if path.is_file() and known.get(path.name) != file_digest(path):
            log(f"cached {path.name} is not the file edgecv exported (changed, cut short or unrecorded); "
                "exporting it again")
            path.unlink()
    missing = [key for key, path in wanted.items() if not path.is_file()]
    error = None
    if missing:
        log(f"exporting {net.card.name} at {size}px: {', '.join(f'{f} {p}' for f, p in missing)} (cached in {folder})")
        try:
            export(net, sorted({f for f, _ in missing}), sorted({p for _, p in missing}), data=data, out=folder,
                   imgsz=size, batch=batch, parity_samples=0, log=lambda m: None)
        except EdgecvError as exc:
            error = str(exc)
        known.update({p.name: file_digest(p) for p in wanted.values() if p.is_file()})
        write_atomic(record, json.dumps(known, indent=1).encode())
    return {key: (path, None if path.is_file() else (error or "export failed")) for key, path in wanted.items()}


def _derive(rows: list[Row]) -> None:
    """Accuracy change against the fp32 PyTorch row of the same model and size (on the host)."""
    reference: dict[tuple, Row] = {}
    for r in rows:
        if r.format == REFERENCE and r.ok:
            reference.setdefault((r.model, r.imgsz), r)
    for r in rows:
        ref = reference.get((r.model, r.imgsz))
        mine, theirs = r.headline, ref.headline if ref is not None else None
        if r.ok and mine and theirs and mine[0] == theirs[0]:
            r.accuracy_delta = round(mine[1] - theirs[1], 4)
    for r in rows:
        note = int8_not_paying(r, rows)
        if note and note not in r.notes:
            r.notes.append(note)


def int8_not_paying(row: Row, rows: list[Row]) -> str | None:
    """The note an int8 row carries when it is not faster than its fp32 twin (the same model, format, runtime,
    provider, device and size): by how much, and the fastest row of that model that is within a point of its
    PyTorch accuracy, which is what to ship instead (another runtime, another format, or fp32 itself)."""
    if not row.ok or row.precision != "int8" or not row.p50:
        return None
    same = ("model", "format", "runtime", "provider", "device", "imgsz", "batch")
    twin = next((r for r in rows if r.ok and r.precision == "fp32" and r.p50
                 and all(getattr(r, k) == getattr(row, k) for k in same)), None)
    if twin is None or row.p50 < twin.p50:
        return None
    good = [r for r in rows if r.ok and r.p50 and r.model == row.model and r.format != REFERENCE
            and r.device == row.device and (r.accuracy_delta is None or r.accuracy_delta >= -1.0)]
    from .table import precision_text  # "fp32 (bf16 compute)" where the runtime chose bf16

    best = min(good, key=lambda r: r.p50, default=twin)
    instead = (f"fastest within a point here: {best.format} {precision_text(best)} on {best.runtime}, {best.p50:.2f} ms"
               if best is not row else f"{precision_text(twin)} on {twin.runtime}, {twin.p50:.2f} ms")
    return (f"int8 does not pay on {row.runtime} here: {row.format} int8 {row.p50:.2f} ms against "
            f"{precision_text(twin)} {twin.p50:.2f} ms ({row.p50 / twin.p50:.2f}x); {instead}")
