"""``edgecv export``: models to ONNX / TFLite files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import EdgecvError, UsageError
from .app import Finite, cli, facts_options


@cli.command("export")
@click.argument("target")
@click.option("--format", "formats", default="onnx", show_default=True,
              help="Comma-separated: onnx, tflite, openvino (IR; pip install 'edgecv[openvino]'), or a format plugin's.")
@click.option("--precision", "precisions", default="fp32", show_default=True,
              help="Comma-separated: fp32, fp16, int8 (static, calibrated), int8-dynamic (TFLite).")
@click.option("--imgsz", type=click.IntRange(8), help="Input size (default: the model's / the weights' training size).")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True, help="Fixed batch size.")
@click.option("--dynamic-batch", is_flag=True, help="ONNX: leave the batch dimension free.")
@click.option("--data", help="Real images for int8 calibration (train split) and the parity check (val split); "
              "default: the dataset the weights were trained on.")
@click.option("--calib-samples", type=click.IntRange(1), default=256, show_default=True)
@click.option("--calib-method", default="minmax", show_default=True,
              help="How activation ranges are chosen: min/max, percentile or entropy (ONNX); min/max, percentile or "
              "ema, ai-edge-quantizer's moving average (TFLite); NNCF's min/max (OpenVINO).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights for a zoo model or a module.py:factory.")
@click.option("--layout", type=click.Choice(["NCHW", "NHWC"], case_sensitive=False),
              help="Input layout (default: NCHW for ONNX, NHWC for TFLite).")
@click.option("--native-io", is_flag=True, help="fp16/int8 inputs and outputs in the model's own dtype "
              "(TFLite int8: int8 I/O; fp16 ONNX: fp16 I/O) instead of float32.")
@click.option("--parity-samples", type=click.IntRange(0), default=64, show_default=True,
              help="Val images for the parity check against PyTorch (0: skip).")
@click.option("--evaluate", is_flag=True, help="Also measure every artifact's accuracy on the val split.")
@click.option("--eval-limit", type=click.IntRange(1), help="With --evaluate: only the first N val images.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) when an artifact is outside its parity tolerance.")
@click.option("--reduce-range", is_flag=True, help="ONNX int8: 7-bit weights, so x86 CPUs without VNNI compute "
              "exactly what ARM boards do (see docs/export.md for the accuracy cost).")
@click.option("--keep-float", metavar="NAME,...", help="int8: leave these layers in float (edgecv layers lists "
              "them, worst first).")
@click.option("--int16", metavar="NAME,...", help="int8 TFLite: give these layers int16 activations (int8 weights): "
              "between int8 and float in both accuracy and speed.")
@click.option("--float-ops", metavar="TYPE,...", help="int8: run every op of these types in float, int8 around them "
              "(HARD_SWISH in TFLite, HardSwish in ONNX): for ops whose int8 kernel is slower than float.")
@click.option("--max-drop", type=Finite(0, 1), metavar="D", help="int8: search calibrations, then layers "
              "kept in float, for the int8 file within D of fp32 (a fraction: 0.005 = half a point).")
@click.option("--out", type=click.Path(file_okay=False), default="exports", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def export_cmd(target: str, formats: str, precisions: str, imgsz: int | None, batch: int, dynamic_batch: bool,
               data: str | None, calib_samples: int, calib_method: str, weights: str | None, layout: str | None,
               native_io: bool, parity_samples: int, evaluate: bool, eval_limit: int | None, strict: bool,
               reduce_range: bool, keep_float: str | None, int16: str | None, float_ops: str | None,
               max_drop: float | None, out: str, as_json: bool) -> None:
    """Export TARGET to ONNX / TFLite at each precision, with metadata and a parity check.

    TARGET is a zoo name (default weights), a checkpoint from `edgecv train`, or path/to/module.py:factory
    for your own classification nn.Module."""
    from ..display import export_table
    from ..exporters.api import export

    log = (lambda msg: None) if as_json else (lambda msg: click.echo(msg, err=True))
    if max_drop is not None:
        formats, precisions = _budget_plan(formats, precisions, log)
    artifacts = export(target, formats, precisions, data=data, out=out, weights=weights, imgsz=imgsz, batch=batch,
                       dynamic_batch=dynamic_batch, calib_samples=calib_samples, calib_method=calib_method,
                       layout=layout, float_io=not native_io, parity_samples=parity_samples, strict=strict,
                       evaluate=evaluate, eval_limit=eval_limit, reduce_range=reduce_range,
                       keep_float=_names(keep_float), int16=_names(int16), float_ops=_names(float_ops), log=log)
    searches = {}
    if max_drop is not None:
        searches = _within_budget(artifacts, max_drop, eval_limit, log)
        from ..exporters.api import parity_again

        for art in artifacts:  # the searched file replaced the one the export checked: check the one that stays
            if art.path in searches:
                art.parity = parity_again(art, target, weights, imgsz, data, parity_samples)
                _record_in_summary(art, searches[art.path])
    if as_json:
        click.echo(json.dumps({"artifacts": [{**a.to_dict(), **({"search": searches[a.path]} if a.path in searches
                                                                 else {})} for a in artifacts]}, indent=2))
    else:
        export_table(artifacts)
        bad = [a for a in artifacts if a.parity and a.parity["failed"]]
        for a in bad:
            click.echo(f"WARNING: {a.path.name} does not behave like the PyTorch model: "
                       f"{'; '.join(a.parity['failed'])}", err=True)
    missed = [(path, record) for path, record in searches.items() if not record["fits"]]
    if missed:
        path, record = missed[0]
        raise EdgecvError(f"no int8 variant of {path.name} is within --max-drop {max_drop:g}: the best found (written) "
                          f"loses {record['chosen']['drop']:.2f} points on held-out training images, "
                          f"{record['val']['drop']:.2f} on val")


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _budget_plan(formats: str, precisions: str, log) -> tuple[str, str]:
    """--max-drop searches int8 against the fp32 file of the same export and format, added if missing."""
    fmts = [f.strip() for f in formats.split(",") if f.strip()]
    precs = [p.strip() for p in precisions.split(",") if p.strip()]
    if "int8" not in precs:
        raise UsageError("--max-drop applies to --precision int8")
    unknown = [f for f in fmts if f not in ("onnx", "tflite")]
    if unknown:
        raise UsageError(f"--max-drop searches ONNX and TFLite int8, not {unknown[0]} (export OpenVINO int8 without "
                         "it, or search the ONNX file and run it on --runtime openvino)")
    if "fp32" not in precs:
        log("--max-drop: exporting fp32 too, the reference the search measures against")
        precs.insert(0, "fp32")
    return ",".join(fmts), ",".join(precs)


def _within_budget(artifacts, max_drop: float, eval_limit: int | None, log) -> dict:
    from ..artifact import read_metadata
    from ..quant.budget import search

    fp32 = {a.format: a.path for a in artifacts if a.precision == "fp32"}
    searches = {}
    for art in (a for a in artifacts if a.precision == "int8"):
        record = search(art.path, fp32[art.format], max_drop, eval_limit=eval_limit, log=log)
        art.metadata, art.parity = read_metadata(art.path), None  # the file is now the chosen variant
        # the accuracy column: the val scores of the file that stays (the search measured them on the val split)
        art.accuracy = _val_scores(art.path, art.metadata, eval_limit) if art.accuracy is not None else \
            {record["metric"]: record["val"]["int8"]}
        chosen, val = record["chosen"], record["val"]
        log(f"{art.path.name}: {chosen['method']} calibration on {chosen['images']} images, "
            f"{len(chosen['keep_float'])} layer(s) in float"
            + (f", every {'/'.join(chosen['float_ops'])} op in float" if chosen.get("float_ops") else "") + "; "
            f"val {record['metric']} fp32 {val['fp32']:.2f}, int8 {val['int8']:.2f} (drop {val['drop']:.2f})"
            + ("" if record["fits"] else f": NOT within {max_drop:g}"))
        searches[art.path] = record
    return searches


def _val_scores(path, metadata: dict, limit: int | None) -> dict:
    from ..runtimes import load
    from ..scoring import score

    with load(path) as session:
        return score(session, metadata["source"]["data"], limit)


def _record_in_summary(art, record: dict) -> None:
    """The export summary was written before the search: it gets the search, and the parity and accuracy of the
    file that stays."""
    from ..artifact import write_atomic

    summary = art.path.parent / f"{art.metadata['model']}-{art.metadata['preprocess']['input_size']}-export.json"
    if not summary.is_file():
        return
    doc = json.loads(summary.read_text(encoding="utf-8"))
    for entry in doc.get("artifacts", []):
        if entry.get("path") == str(art.path):
            entry.update(parity=art.parity, search=record, size_bytes=art.path.stat().st_size, accuracy=art.accuracy)
    write_atomic(summary, json.dumps(doc, indent=2).encode())


@cli.command("layers")
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.argument("reference", required=False, type=click.Path(dir_okay=False))
@click.option("--data", help="Images to analyse on (val split; default: the data recorded at export).")
@click.option("--limit", type=click.IntRange(1), default=32, show_default=True, help="Val images used.")
@click.option("--threads", type=click.IntRange(1), help="onnxruntime threads.")
@click.option("--top", type=click.IntRange(1), default=15, show_default=True, help="Rows shown, worst SQNR first.")
@click.option("--float-accuracy", "float_layers", type=click.IntRange(0), default=0, show_default=True,
              metavar="K", help="Re-quantize with each of the K worst layers kept in float and measure the accuracy "
              "won back (minutes: one quantization and one evaluation per layer).")
@click.option("--eval-limit", type=click.IntRange(1), default=500, show_default=True,
              help="With --float-accuracy: val images per accuracy.")
@click.option("--json", "as_json", is_flag=True, help="Print every layer as JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write every layer as an HTML page here.")
@facts_options
def layers_cmd(artifact: str, reference: str | None, data: str | None, limit: int, threads: int | None, top: int,
               float_layers: int, eval_limit: int, as_json: bool, html_path: str | None, facts) -> None:
    """Which layers int8 hurts, and what each costs: ARTIFACT (an int8 .onnx or .tflite) against REFERENCE (the float
    model it came from; default: the fp32 file of the same export beside it), layer by layer, on real images.

    SQNR is the layer output's signal-to-quantization-noise ratio in dB (about 6 dB per bit; low is bad);
    ms and share are the layer's kernel time in the int8 model, from onnxruntime's profiler."""
    from ..quant.layers import analyse

    blocked = next((p for p in Path(html_path or ".").absolute().parents if p.exists() and not p.is_dir()), None)
    if blocked:  # said before minutes of analysis, not after
        raise UsageError(f"cannot write --html {html_path}: {blocked} is a file")
    report = analyse(artifact, reference, data, limit, threads, float_layers, eval_limit, facts)
    if html_path:
        from ..artifact import write_atomic
        from ..quant.page import layers_page

        write_atomic(Path(html_path), layers_page(report).encode())
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    rows = sorted(report["layers"], key=lambda r: r["sqnr_db"])[:top]
    click.echo(f"{Path(report['artifact']).name} vs {Path(report['reference']).name} on {report['images']} "
               f"{report['data']} val images: {len(report['layers'])} quantized layers, the {len(rows)} worst:")
    acc = report.get("accuracy")
    if acc:
        click.echo(f"{acc['metric']} on {acc['eval_images']} val images: fp32 {acc['fp32']:.2f}, int8 {acc['int8']:.2f}; "
                   "'float +' is what keeping just that layer in float wins back")
    width = max(7, *(len(r["op"]) for r in rows))
    click.echo(f"{'layer':<28} {'op':<{width}} {'SQNR dB':>8} {'cosine':>8} {'ms':>7} {'share':>6}"
               + (f" {'float +':>8}" if acc else ""))
    for r in rows:
        ms = f"{r['ms']:.3f}" if r["ms"] is not None else "-"
        share = f"{100 * r['share']:.1f}%" if r["share"] is not None else "-"
        gain = f" {r['float_gain']:>+8.2f}" if r["float_gain"] is not None else (f" {'-':>8}" if acc else "")
        click.echo(f"{r['name'][:28]:<28} {r['op']:<{width}} {r['sqnr_db']:>8.2f} {r['cosine']:>8.4f} {ms:>7} {share:>6}{gain}")
    if rows and all(r["ms"] is None for r in rows):
        click.echo("ms, share: not measured for .tflite files: LiteRT's Python interpreter has no per-op timer (its "
                   "op profiler is a C++ build option); ONNX files get each kernel's time from onnxruntime's profiler")


@cli.command("annotate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="Write the annotated file here (default: MODEL itself).")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata written, as JSON.")
@facts_options
def annotate_cmd(model: str, out: str | None, as_json: bool, facts) -> None:
    """Write what edgecv knows of MODEL (a .onnx/.tflite from any tool: --preprocess, --labels, --task, --head, its
    FILE.edgecv.yaml, its producer's metadata) into the file's own metadata, so every command and the device script
    then run it without flags."""
    from ..annotate import annotate

    written, meta = annotate(model, facts, out)
    if as_json:
        click.echo(json.dumps(meta, indent=2))
        return
    pre = meta["preprocess"]
    click.echo(f"{written}: {meta['task']}, {meta.get('num_classes') or '?'} classes, {pre['input_size']}px "
               f"{pre['mode']} {pre['layout']}" + (f", head {meta['head']}" if meta.get("head") else ""))
    click.echo("facts: " + ", ".join(f"{k} from {v}" for k, v in sorted((meta.get("sources") or {}).items())),
               err=True)
