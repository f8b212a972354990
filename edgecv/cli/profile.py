"""``edgecv profile`` and ``check``: the table, and the CI gate on it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import EdgecvError, UsageError
from .app import Finite, cli, facts_options


def executor_options(command):
    """``--executor`` and ``--ray-address``, the same for profile and check (``profiler/executor.py`` checks the
    name, so the CLI does not keep a list of its own)."""
    command = click.option("--ray-address", metavar="ADDRESS", help="With --executor ray: the cluster's head "
                           "(host:port, or auto; default: RAY_ADDRESS, else a Ray instance on this machine).")(command)
    return click.option("--executor", default="local", show_default=True, help="Where the cells run: local (here, "
                        "one at a time) or ray (tasks on a Ray cluster; pip install 'edgecv[ray]').")(command)


@cli.command("profile")
@click.argument("targets", nargs=-1)
@click.option("--format", "formats", help="Comma-separated: pytorch, onnx, tflite, openvino (default: every one "
              "installed here).")
@click.option("--precision", "precisions", help="Comma-separated: fp32, fp16, int8 (default: all three).")
@click.option("--runtime", "runtimes", help="Comma-separated runtimes (default: every one that opens the format).")
@click.option("--provider", "providers", help="Comma-separated providers (default: those available here).")
@click.option("--device", "devices", default="host", show_default=True, help="Comma-separated device profiles.")
@click.option("--data", help="Accuracy on this dataset's val split (default: the data the model was trained on).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N val images.")
@click.option("--imgsz", help="Zoo models: the export size N. Files: the height/width (N or HxW) of image inputs "
              "whose size is dynamic (default: what the file fixes, else 640).")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=1x3x640x640",
              help="The full shape of a file's input NAME (repeatable, for models with several inputs).")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True,
              help="Batch for the throughput figure (a dynamic batch dim takes it).")
@click.option("--threads", type=click.IntRange(1), help="Threads for every runtime (default: the cores available).")
@click.option("--warmup", type=click.IntRange(0, 100_000), default=10, show_default=True)
@click.option("--iters", type=click.IntRange(1, 1_000_000), default=50, show_default=True, help="Timed calls (at least).")
@click.option("--min-time", type=Finite(0, 3600), default=1.0, show_default=True, help="Seconds of timed calls (at least).")
@click.option("--timeout", type=Finite(1, 86400), default=900, show_default=True, help="Seconds before a cell is given up.")
@click.option("--out", type=click.Path(file_okay=False), default="profile", show_default=True,
              help="Report folder; rerunning the same profile there resumes; another profile goes to OUT-2, ...")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the report JSON here.")
@click.option("--remeasure", type=click.Choice(["unstable", "failed", "all"]), help="Measure these rows saved in "
              "--out again (a rerun otherwise resumes them as they are); the other rows are kept.")
@executor_options
@click.option("--track", type=click.IntRange(0), default=0, show_default=True, metavar="N",
              help="Detectors: also track through N shapes-track sequences (MOTA, IDF1, end-to-end fps, the tracker's "
              "share; pip install 'edgecv[track]').")
@click.option("--layers", is_flag=True, help="Also analyse each int8 file layer by layer against its fp32 twin "
              "(edgecv layers) and link the page from its rows in report.html.")
@click.option("--hint", type=click.Choice(["latency", "throughput"]), default="latency", show_default=True,
              help="OpenVINO rows: its performance hint (throughput: its streams, and img/s with its optimal number "
              "of requests in flight, as benchmark_app measures it).")
@facts_options
def profile_cmd(targets: tuple[str, ...], formats: str | None, precisions: str | None, runtimes: str | None,
                providers: str | None, devices: str, data: str | None, limit: int | None, imgsz: str | None,
                input_shapes: tuple[str, ...], batch: int, threads: int | None, warmup: int, iters: int,
                min_time: float, timeout: float, out: str, json_path: str | None, remeasure: str | None, executor: str,
                ray_address: str | None, track: int, layers: bool, hint: str, facts) -> None:
    """Measure size, accuracy and latency of every variant: TARGETs are zoo names, checkpoints, .onnx/.tflite/.xml
    files or folders of them (default: the default-weight zoo, every format and precision)."""
    from ..artifact import write_atomic
    from ..profiler.progress import Progress
    from ..profiler.report import print_table
    from ..profiler.run import profile
    from ..profiler.spec import ProfileSpec
    from ..profiler.table import report_rows

    log = lambda msg: click.echo(f"edgecv: {msg}", err=True)  # noqa: E731
    spec = ProfileSpec.of(targets, format=formats, precision=precisions, runtime=runtimes, provider=providers,
                          device=devices, data=data, limit=limit, imgsz=imgsz, batch=batch, threads=threads,
                          warmup=warmup, iters=iters, min_time_s=min_time, input_shapes=input_shapes, track=track,
                          facts=facts.to_dict() or None, hint=hint)
    progress = Progress()
    try:
        report = profile(spec=spec, out=out, timeout_s=timeout, layers=layers, log=log, on_start=progress.start,
                         on_row=progress.advance, executor=executor, ray_address=ray_address, remeasure=remeasure)
    finally:
        progress.stop()
    print_table(report)
    if json_path:
        write_atomic(Path(json_path), json.dumps(report, indent=1).encode())
    rows = report_rows(report)
    for note in dict.fromkeys(f"{r.model}: {n}" for r in rows for n in r.notes):
        log(f"note: {note}")
    warning = unstable_warning(rows, report["out"])
    if warning:
        log(warning)
    log(f"reports in {report['out']}/: report.html, report.md, results.csv, results.json")
    failed = [r for r in rows if not r.ok]
    if failed:
        raise EdgecvError(f"{len(failed)} of {len(rows)} rows failed; first: {failed[0].describe()}: {failed[0].error}")


def unstable_warning(rows, out: str) -> str | None:
    """What to do about rows whose timings cannot be trusted: measure them again in place (``--remeasure
    unstable``), and ``--threads`` when other work took the cores the row's threads wanted."""
    unstable = [r for r in rows if r.ok and r.unstable]
    if not unstable:
        return None
    first = unstable[0]
    busy = [r for r in unstable if any(reason.startswith("busy machine") for reason in r.unstable)]
    threads = ""
    for r in busy:  # threads are the cause only where a row ran with more than the cores others left free
        load = r.load or {}
        free = max(1, int((load.get("cores") or 1) - (load.get("others_cores") or 0) + 0.5))
        if (r.threads or load.get("cores") or 1) > free:
            threads = (f"; other work took the cores: --threads {free} (the cores it left free) avoids contending "
                       "with it")
            break
    return (f"warning: {len(unstable)} of {len(rows)} rows have timings that cannot be trusted ({first.describe()} on "
            f"{first.runtime}: {first.unstable[0]}); measure them again with the same command and --remeasure "
            f"unstable (--out {out}), on a quieter machine or with more --iters/--min-time{threads}")


@cli.command("check")
@click.option("--baseline", required=True, type=click.Path(dir_okay=False), help="A report from edgecv profile --json.")
@click.option("--current", type=click.Path(dir_okay=False), help="Compare with this report instead of re-profiling.")
@click.option("--max-drop", type=Finite(0, 1), default=0.01, show_default=True,
              help="Allowed top-1 (classifiers) or mIoU (segmentation) drop as a fraction (0.01 = 1 point).")
@click.option("--max-drop-map", type=Finite(0, 1), default=0.015, show_default=True,
              help="Allowed mAP50-95 drop as a fraction (0.015 = 1.5 points).")
@click.option("--max-size-growth", type=Finite(0, 1000), default=0.05, show_default=True,
              help="Allowed file-size growth (0.05 = +5%).")
@click.option("--max-latency-growth", type=Finite(0, 1000), help="Also fail when p50 grows by more (0.5 = +50%).")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), help="Write a Markdown summary here.")
@click.option("--out", type=click.Path(file_okay=False), default="profile-check", show_default=True,
              help="Where the re-profile's reports go (resumable).")
@click.option("--update-baseline", is_flag=True, help="Re-profile and write the result over the baseline.")
@click.option("--resume", is_flag=True, help="Reuse the rows this machine already measured in --out (a check "
              "interrupted part way); by default every gated row is measured in this run.")
@click.option("--allow-device", "allow_devices", multiple=True, metavar="NAME|FILE.toml",
              help="Let the baseline's matrix use this device (a baseline alone names only devices configured here).")
@click.option("--allow-module", "allow_modules", multiple=True, metavar="FILE.py:FACTORY",
              help="Let the baseline's matrix profile this Python target (code: a baseline alone never runs it).")
@executor_options
@facts_options
def check_cmd(baseline: str, current: str | None, max_drop: float, max_drop_map: float, max_size_growth: float,
              max_latency_growth: float | None, junit_path: str | None, markdown_path: str | None, out: str,
              update_baseline: bool, resume: bool, allow_devices: tuple[str, ...], allow_modules: tuple[str, ...],
              executor: str, ray_address: str | None, facts) -> None:
    """Fail (exit 1) when a profile regressed against BASELINE: accuracy, size, a failed or vanished row.

    Foreign files are re-profiled with the --preprocess/--task/--labels/--head the baseline's profile recorded;
    the same options here add to or replace them."""
    from ..artifact import write_atomic
    from ..profiler.check import Limits, compare, junit, markdown, read_report
    from ..profiler.run import profile

    base = read_report(baseline)
    if current:
        now = read_report(current, "current report")
    else:
        from ..profiler.progress import Progress
        from ..profiler.spec import ProfileSpec

        if not base.get("matrix"):
            raise UsageError(f"{baseline} does not record what was profiled; pass --current REPORT")
        spec = ProfileSpec.from_dict(base["matrix"], baseline, allow_modules, allow_devices)
        if facts:  # stated here, over what the baseline recorded (--preprocess and friends of its profile)
            spec = spec.replace(facts={**(spec.facts or {}), **facts.to_dict()})
        progress = Progress()
        try:
            now = profile(spec=spec, out=out, log=lambda m: click.echo(f"edgecv: {m}", err=True),
                          on_start=progress.start, on_row=progress.advance, executor=executor, ray_address=ray_address,
                          resume=resume)
        finally:
            progress.stop()
    if update_baseline:
        write_atomic(Path(baseline), json.dumps(now, indent=1).encode())
        click.echo(f"baseline {baseline} updated: {len(now['rows'])} rows", err=True)
        return
    limits = Limits(max_drop, max_drop_map, max_size_growth, max_latency_growth)
    verdicts = compare(base, now, limits)
    summary = markdown(verdicts, limits)
    if junit_path:
        write_atomic(Path(junit_path), junit(verdicts))
    if markdown_path:
        write_atomic(Path(markdown_path), summary.encode())
    click.echo(summary)
    failed = [v for v in verdicts if v.status == "fail"]
    if failed:
        raise EdgecvError(f"{len(failed)} regression(s); first: {failed[0].name}: {'; '.join(failed[0].reasons)}")
