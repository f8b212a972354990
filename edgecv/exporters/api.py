"""``edgecv.export``: one model -> one artifact per format x precision, each with its metadata inside and
a parity check against the PyTorch model on real images, plus a JSON summary.

Every combination is validated before any work starts. An artifact is written only once it is complete
(temporary file + rename); if one combination fails, the others are still written, the summary records
the failure and the call raises at the end.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .._version import __version__
from ..artifact import Artifact, artifact_name, model_metadata, output_roles, writable, write_atomic
from ..errors import EdgecvError, UsageError
from ..formats import calib_methods
from ..formats import precisions as known_precisions
from ..models.heads import graph_module
from ..resources import IMAGE_BYTES_PER_PIXEL, check_memory
from ..runtimes import load, predictor
from . import get_exporter
from .base import ExportJob, quiet
from .calibration import load_images
from .parity import compare, judge


def _as_list(value: str | Sequence[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [v.strip().lower() for v in items if v.strip()]


def export(model: str | nn.Module, format: str | Sequence[str] = "onnx",
           precision: str | Sequence[str] = "fp32", *, data: str | None = None, out: str | Path = "exports",
           weights: str | None = None, imgsz: int | None = None, batch: int = 1, dynamic_batch: bool = False,
           calib_samples: int = 256, calib_method: str = "minmax", layout: str | None = None,
           float_io: bool = True, parity_samples: int = 64, strict: bool = False, threads: int | None = None,
           evaluate: bool = False, eval_limit: int | None = None, reduce_range: bool = False,
           keep_float: Sequence[str] = (), int16: Sequence[str] = (), float_ops: Sequence[str] = (),
           log: Callable[[str], None] | None = None) -> list[Artifact]:
    """Export ``model`` (a zoo name, a checkpoint, ``module.py:factory`` or an ``nn.Module`` with a card).

    ``data`` supplies real images for int8 calibration (train split) and the parity check (val split);
    it defaults to the dataset the weights were trained on. ``reduce_range`` quantizes ONNX int8 weights to
    7 bits so that x86 CPUs without VNNI give the same int8 outputs as ARM boards (see docs/export.md).
    ``keep_float`` names the layers int8 leaves in float, as ``edgecv layers`` names them (worst first);
    ``int16`` the layers it gives int16 activations (TFLite); ``float_ops`` the op types it runs in float, every
    op of each, with int8 tensors around them (``HARD_SWISH`` in TFLite, ``HardSwish`` in ONNX).
    Returns the artifacts written under ``out``.
    """
    log = log or (lambda _msg: None)
    formats, precisions = _as_list(format), _as_list(precision)
    known = known_precisions()
    for p in precisions:
        if p not in known:
            raise UsageError(f"unknown precision {p!r} (choose from {', '.join(known)})")
    if calib_method not in calib_methods():
        raise UsageError(f"unknown calibration method {calib_method!r} (choose from {', '.join(calib_methods())})")
    if not formats or not precisions:
        raise UsageError("name at least one format and one precision")
    if batch < 1 or calib_samples < 1 or parity_samples < 0:
        raise UsageError("--batch and --calib-samples must be at least 1, --parity-samples at least 0")
    if layout is not None and layout.upper() not in ("NCHW", "NHWC"):
        raise UsageError(f"unknown layout {layout!r} (NCHW or NHWC)")
    exporters = [get_exporter(f) for f in formats]

    net, source = _resolve(model, weights, imgsz)
    card = net.card
    pre = card.preprocess.at_size(imgsz) if imgsz else card.preprocess
    data = data or (getattr(net, "checkpoint_meta", None) or {}).get("dataset")
    if data:
        source["data"] = str(data)  # what the model is evaluated on by default (edgecv eval ARTIFACT)

    jobs = []
    for exporter in exporters:
        job = ExportJob(module=graph_module(net, card.task), name=card.name, task=card.task,
                        imgsz=pre.input_size, channels=pre.channels, batch=None if dynamic_batch else batch,
                        layout=(layout or exporter.default_layout).upper(), output_names=output_roles(card.task),
                        calib_method=calib_method, float_io=float_io, reduce_range=reduce_range,
                        keep_float=tuple(keep_float) if "int8" in precisions else (),
                        int16=tuple(int16) if "int8" in precisions else (),
                        float_ops=tuple(float_ops) if "int8" in precisions else ())
        for p in precisions:
            exporter.check(job, p)
        jobs.append((exporter, job))
    if data is None and "int8" in precisions:
        raise UsageError("int8 needs real calibration images: pass --data (a built-in dataset or a folder)")

    accuracy = None
    if evaluate:
        if data is None:
            raise UsageError("--evaluate needs --data (or weights that name their dataset)")
        accuracy = _Accuracy(data, card.task, pre, eval_limit, threads)

    size = pre.input_size
    check_memory(f"export at {size}px", batch, size)
    if data is not None and "int8" in precisions:
        check_memory(f"{calib_samples} calibration images at {size}px", calib_samples, size,
                     bytes_per_pixel=IMAGE_BYTES_PER_PIXEL, hint="use fewer --calib-samples or a smaller --imgsz")
    if data is not None and (parity_samples or evaluate):
        _require_val(data, pre.input_size, "the parity check" if parity_samples else "--evaluate")
    writable(Path(out))
    calibration = parity_x = None
    calib_split = None
    if data is not None and "int8" in precisions:
        log(f"calibration: {calib_samples} images from {data}")
        calibration, calib_split = load_images(data, pre, calib_samples, "train")
    if data is not None and parity_samples:
        parity_x, _ = load_images(data, pre, parity_samples, "val", seed=1)
        reference = _torch_outputs(net, parity_x)
    elif parity_samples:
        log("parity: not checked (no --data and the weights name no dataset)")
    if accuracy is not None:
        accuracy.reference = accuracy.torch(net)
        log(f"PyTorch fp32 accuracy: {_scores(accuracy.reference)}")

    out = Path(out)
    artifacts: list[Artifact] = []
    failures: list[str] = []  # conversions that failed: the call raises
    parity_misses: list[str] = []  # artifacts written but outside their tolerance: raises only when strict
    with tempfile.TemporaryDirectory(prefix="edgecv-export-") as tmp:
        for exporter, job in jobs:
            job.calibration = calibration
            for p in precisions:
                name = artifact_name(card.name, pre.input_size, p, exporter.format, job.batch, job.layout)
                log(f"{name}: exporting")
                start = time.perf_counter()
                try:
                    with quiet():
                        built = exporter.convert(job, p, Path(tmp))
                    meta = _metadata(card, pre, exporter.format, p, job, built, source,
                                     {"data": data, "split": calib_split, "images": int(len(calibration)),
                                      "method": calib_method, "reduce_range": reduce_range,
                                      "keep_float": list(job.keep_float), "int16": list(job.int16),
                                      "float_ops": list(job.float_ops)}
                                     if p == "int8" else None)
                    path = out / name
                    exporter.embed_metadata(built, json.dumps(meta), path)
                except EdgecvError as exc:
                    failures.append(f"{name}: {exc}")
                    log(f"{name}: FAILED {exc}")
                    continue
                art = Artifact(path, exporter.format, p, meta, seconds=time.perf_counter() - start)
                if parity_x is not None:
                    art.parity = _parity(art, parity_x, reference, card.task, threads)
                    if art.parity["failed"]:
                        parity_misses.append(f"{name}: parity outside the {p} tolerance "
                                             f"({'; '.join(art.parity['failed'])})")
                if accuracy is not None:
                    art.accuracy = accuracy.artifact(art)
                    log(f"{name}: accuracy {_scores(art.accuracy)}")
                artifacts.append(art)
                log(f"{name}: {art.size_bytes / 1e6:.2f} MB in {art.seconds:.1f} s")

    summary = {"edgecv_version": __version__, "model": card.name, "source": source, "imgsz": pre.input_size,
               "data": data, "reference_accuracy": accuracy.reference if accuracy else None,
               "artifacts": [a.to_dict() for a in artifacts], "failures": failures + parity_misses}
    summary_path = out / f"{card.name}-{pre.input_size}-export.json"
    write_atomic(summary_path, json.dumps(summary, indent=2).encode())
    problems = failures + (parity_misses if strict else [])
    if problems:
        raise EdgecvError(f"{len(problems)} of {len(jobs) * len(precisions)} exports failed; "
                          f"first: {problems[0]} (summary in {summary_path})")
    return artifacts


def _resolve(model: str | nn.Module, weights: str | None, imgsz: int | None) -> tuple[nn.Module, dict[str, Any]]:
    from ..models.resolve import is_user_module, load_target, load_user_module

    if isinstance(model, nn.Module):
        if not hasattr(model, "card"):
            raise UsageError("a module passed to export needs a .card (edgecv.create_model sets one)")
        net, source = model, {"target": type(model).__name__}
    elif is_user_module(model):
        net, source = load_user_module(model, weights, input_size=imgsz or 224), {"target": model}
    else:
        net, source = load_target(model, weights), {"target": model}
        path = Path(model)
        if path.is_file():
            source["file_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    if weights:
        source["weights"] = str(weights)
    source["weights_sha256"] = state_dict_digest(net)
    return net.eval(), source


def state_dict_digest(model: nn.Module) -> str:
    """SHA-256 over the model's tensors (names, dtypes, values): identifies the weights an artifact came from."""
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(str(tensor.dtype).encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _torch_outputs(net: nn.Module, x: np.ndarray):
    from ..scoring import torch_predictor

    predict = torch_predictor(net)
    outs = [predict(x[i:i + 16]) for i in range(0, len(x), 16)]
    if isinstance(outs[0], tuple):
        return tuple(np.concatenate([o[k].numpy() for o in outs]) for k in range(len(outs[0])))
    return np.concatenate([o.numpy() for o in outs])


def parity_again(art: Artifact, model: str | nn.Module, weights: str | None, imgsz: int | None, data: str | None,
                 parity_samples: int, threads: int | None = None) -> dict[str, Any] | None:
    """The parity check of ``art`` against its PyTorch model on the same val images the export used (a file the
    ``--max-drop`` search replaced after the export checked the plain one); None without data or samples."""
    net, _ = _resolve(model, weights, imgsz)
    pre = net.card.preprocess.at_size(imgsz) if imgsz else net.card.preprocess
    data = data or (getattr(net, "checkpoint_meta", None) or {}).get("dataset")
    if not data or not parity_samples:
        return None
    x, _ = load_images(data, pre, parity_samples, "val", seed=1)
    return _parity(art, x, _torch_outputs(net, x), net.card.task, threads)


def _parity(art: Artifact, x: np.ndarray, reference, task: str, threads: int | None) -> dict[str, Any]:
    session = load(art.path, threads=threads)
    if art.metadata["preprocess"]["layout"] == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    output = predictor(session, art.metadata)(x)
    metrics = compare(reference, output, task)
    return {**metrics, "failed": judge(metrics, art.precision, task)}


class _Accuracy:
    """Accuracy on the val split, PyTorch and artifacts through ``scoring.score`` on one dataset."""

    def __init__(self, data: str, task: str, pre, limit: int | None, threads: int | None) -> None:
        from ..data import get_dataset

        self.dataset = get_dataset(data, "val", imgsz=pre.input_size, limit=limit)
        if self.dataset.task != task:
            raise UsageError(f"cannot evaluate a {task} model on {data}, which is {self.dataset.task} data")
        self.pre, self.threads, self.reference = pre, threads, None

    def torch(self, net: nn.Module) -> dict[str, float]:
        from ..scoring import score

        return score(net, self.dataset, preprocess=self.pre)

    def artifact(self, art: Artifact) -> dict[str, float]:
        from ..scoring import score

        with load(art.path, threads=self.threads) as session:
            return score(session, self.dataset)


def _scores(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in metrics.items() if k != "images")


def _require_val(data: str, imgsz: int, why: str) -> None:
    """Say before calibrating (minutes) that the val split the parity check reads is missing."""
    from ..data import get_dataset
    from ..errors import DataError

    try:
        get_dataset(data, "val", imgsz=imgsz, limit=1)
    except DataError as exc:
        raise UsageError(f"{why} reads the val split of {data}, which is not usable ({exc}); add it, or pass "
                         "--parity-samples 0") from None


def _metadata(card, pre, fmt: str, precision: str, job: ExportJob, built: Path, source: dict[str, Any],
              calibration: dict[str, Any] | None) -> dict[str, Any]:
    """The artifact contract, with the input/output facts read back from the file itself."""
    import dataclasses

    session = load(built)
    meta = model_metadata(card, dataclasses.replace(pre, layout=job.layout), fmt, precision, session.inputs,
                          session.outputs, job.output_names, source)
    if calibration:
        meta["calibration"] = calibration
    return meta
