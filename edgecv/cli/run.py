"""``edgecv predict``, ``track``, ``runtimes`` and ``devices``: running models, and where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import EdgecvError
from .app import Finite, cli, facts_options, runtime_options


@cli.command("track")
@click.argument("target")
@click.argument("frames", nargs=-1)
@click.option("--data", help="The built-in sequences with ground truth: shapes-track (instead of FRAMES).")
@click.option("--sequences", type=click.IntRange(1), help="With --data: only the first N sequences.")
@click.option("--gt", type=click.Path(dir_okay=False), help="MOT-format ground truth for FRAMES "
              "(frame,id,left,top,width,height per line): scores MOTA and IDF1.")
@click.option("--runtime", help="onnxruntime, litert, openvino, torch, or a plugin (default: by file type).")
@click.option("--provider", help="The runtime's provider (onnxruntime: cpu, cuda, tensorrt; openvino: cpu, gpu, npu).")
@click.option("--device", help="A device profile name or .toml: host (default), rpi4, rpi5, ...")
@click.option("--threads", type=click.IntRange(1), help="Runtime threads.")
@click.option("--iou", "iou_threshold", type=Finite(0, 1), default=0.1, show_default=True,
              help="Least IoU between a track's predicted box and a detection to match them.")
@click.option("--max-age", type=click.IntRange(0), default=10, show_default=True,
              help="Frames a track survives unmatched.")
@click.option("--min-hits", type=click.IntRange(1), default=3, show_default=True,
              help="Frames in a row a new track must be matched before it is reported.")
@click.option("--per-class", is_flag=True, help="Match detections to tracks of the same class only.")
@click.option("--embedder", type=click.Path(dir_okay=False), help="A classifier artifact: each box's crop through it "
              "gives its appearance (class probabilities), DeepSORT's cue, ranked after the motion gate.")
@click.option("--out", type=click.Path(file_okay=False), default="track", show_default=True,
              help="Where the MOT-format track files and track.json go.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@facts_options
def track_cmd(target: str, frames: tuple[str, ...], data: str | None, sequences: int | None, gt: str | None,
              runtime: str | None, provider: str | None, device: str | None, threads: int | None,
              iou_threshold: float, max_age: int, min_hits: int, per_class: bool, embedder: str | None, out: str,
              as_json: bool, facts) -> None:
    """Run the detector TARGET on FRAMES (image files or folders, in order) or --data shapes-track, and link its
    boxes into tracks (Kalman filter + Hungarian matching): MOT-format files, MOTA/IDF1 with ground truth."""
    from ..track import track

    log = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
    report = track(target, list(frames), data=data, sequences=sequences, gt=gt, runtime=runtime, provider=provider,
                   device=device, threads=threads, out=out, iou_threshold=iou_threshold, max_age=max_age,
                   min_hits=min_hits, per_class=per_class, embedder=embedder, log=log, facts=facts)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    t = report["timing"]
    if "scores" in report:
        s = report["scores"]
        click.echo(f"MOTA {s['mota']:.2f}  IDF1 {s['idf1']:.2f}  MOTP {s['motp']:.1f}  ID switches {s['id_switches']}  "
                   f"false positives {s['false_positives']}  misses {s['misses']} (of {s['gt_boxes']})")
    click.echo(f"{t['frames']} frames at {t['fps']:.1f} fps: detector {t['detector_ms']:.2f} ms, tracker "
               f"{t['tracker_ms']:.3f} ms per frame (p50; {100 * t['tracker_share']:.1f}% of the time); "
               f"tracks in {out}/")


@cli.command("predict")
@click.argument("target")
@click.argument("images", nargs=-1, required=True)
@click.option("--runtime", help="onnxruntime, litert, openvino, torch, or a plugin (default: by file type; zoo names: "
              "torch).")
@click.option("--provider", help="The runtime's provider (onnxruntime: cpu, cuda, tensorrt; openvino: cpu, gpu, npu; "
              "torch: cpu, cuda).")
@click.option("--device", help="A device profile name or .toml: host (default), rpi4, rpi5, ...")
@click.option("--threads", type=click.IntRange(1), help="Runtime threads.")
@click.option("--top", type=click.IntRange(1), default=5, show_default=True, help="Classes shown per image.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Runtime option, e.g. graph_optimization=basic, xnnpack=False, weights=FILE (torch).")
@click.option("--masks", "masks", default="runs/predict", show_default=True, metavar="DIR",
              help="Segmentation: where each image's class map goes, as a VOC palette PNG named after the image.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@facts_options
def predict_cmd(target: str, images: tuple[str, ...], runtime: str | None, provider: str | None, device: str | None,
                threads: int | None, top: int, options: tuple[str, ...], masks: str, as_json: bool, facts) -> None:
    """Run TARGET on IMAGES (files or folders) and print the top classes, the detected boxes, or the classes
    covering each image (writing its class map as a colour PNG).

    TARGET is an exported .onnx/.tflite/.xml (OpenVINO IR) file, or a zoo name / checkpoint run with PyTorch."""
    from ..predict import predict

    def show(result: dict[str, Any]) -> None:
        if "error" in result:
            click.echo(f"edgecv: error: {result['error']}", err=True)
            return
        click.echo(result["image"])
        for p in result["predictions"] or [{"label": "(nothing detected)", "score": None}]:
            score = "     " if p["score"] is None else f"{p['score']:.3f}"
            if "mask" in result:  # a share of the image's pixels
                score = f"{100 * p['score']:5.1f}%"
            box = " [" + ", ".join(f"{v:.1f}" for v in p["box"]) + "]" if "box" in p else ""
            click.echo(f"  {score}  {p['label']}{box}")
        if "mask" in result:
            click.echo(f"  class map: {result['mask']}")

    report = predict(target, list(images), runtime, provider, device, threads, top,
                     on_result=None if as_json else show, masks=masks, facts=facts, **runtime_options(options))
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        t = report["timing"]
        where = f"{report['runtime']} on {report['device']}" + (" (emulated)" if report["emulated"] else "")
        if t["images"]:
            click.echo(f"{t['images']} image(s), {where}: init {t['init_ms']:.1f} ms, first {t['first_ms']:.2f} ms, "
                       f"median {t['p50_ms']:.2f} ms ({_timed(report)})", err=True)
    failed = sum("error" in r for r in report["results"])
    if failed:
        raise EdgecvError(f"{failed} of {len(report['results'])} images could not be read")


def _timed(report: dict[str, Any]) -> str:
    if report["emulated"]:
        return "timed under qemu: says nothing about the board's speed"
    return f"timed on the {report['timing']['measured_on']}"


@cli.command("runtimes")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def runtimes_cmd(as_json: bool) -> None:
    """List the runtimes edgecv knows, whether each can run here, and why not."""
    from ..display import runtimes_table
    from ..runtimes import get_runtime, runtime_names

    rows = []
    for name in runtime_names():
        try:
            rt = get_runtime(name)
        except EdgecvError as exc:
            rows.append({"name": name, "available": False, "reason": str(exc)})
            continue
        ok, why = rt.available()
        rows.append({"name": name, "available": ok, "reason": "" if ok else why, "files": list(rt.suffixes),
                     "providers": list(rt.providers), "providers_here": rt.available_providers() if ok else [],
                     "on_devices": rt.on_device, "version": _version(why) if ok else None})
    if as_json:
        click.echo(json.dumps({"runtimes": rows}, indent=2))
    else:
        runtimes_table(rows)


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    for dist in packages_distributions().get(module, [module]):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


@cli.command("devices")
@click.option("--setup", "setup", metavar="NAME", help="Prepare an emulated device now (downloads once, with progress).")
@click.option("--script", "script", type=click.Path(), metavar="PATH",
              help="Write the standalone device script (edgecv_device.pyz; needs only numpy and a runtime) here.")
@click.option("--ray-address", metavar="ADDRESS", help="List what a Ray cluster offers instead: each live node, its "
              "CPUs and the devices it advertises (device:NAME resources).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def devices_cmd(setup: str | None, script: str | None, ray_address: str | None, as_json: bool) -> None:
    """List device profiles: host, rpi4, rpi5 and any in $EDGECV_DEVICES or ~/.config/edgecv/devices."""
    from ..devices import get_device, list_devices
    from ..devices.emulation import Emulator
    from ..display import devices_table

    if ray_address:
        from ..profiler.ray_executor import cluster_nodes

        nodes = cluster_nodes(ray_address)
        if as_json:
            click.echo(json.dumps({"nodes": nodes}, indent=2))
        else:
            for n in nodes:
                click.echo(f"{n['hostname']:24s} {n['ray_node_id'][:12]}  {n['cpus']:g} CPUs  "
                           f"devices: {', '.join(n['devices']) or '-'}")
        return

    if script:
        from ..devices.script import write_device_script

        written = write_device_script(Path(script))
        click.echo(f"{written}: copy it to a board and run python3 {written.name} predict MODEL IMAGES", err=True)
        return
    if setup:
        device = get_device(setup)
        if not device.emulated:
            raise EdgecvError(f"{device.name} is reached by {device.reach}, not emulation: nothing to set up")
        emulator = Emulator()
        emulator.ensure(lambda msg: click.echo(f"edgecv: {msg}", err=True))
        click.echo(f"{device.name}: emulation ready in {emulator.root}", err=True)
        return
    ready = Emulator().ready()
    rows = [{**d.to_dict(), **({"emulation_ready": ready} if d.emulated else {})} for d in list_devices()]
    if as_json:
        click.echo(json.dumps({"devices": rows}, indent=2))
    else:
        devices_table(rows)
