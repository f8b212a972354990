"""``edgecv layers``: an int8 ONNX file against the float model it came from, layer by layer.

For each quantized layer (Conv, Gemm, MatMul, and every other op that computes and requantizes its output:
Add, Mul, Sigmoid, HardSwish, pooling, ...) it reports, on real preprocessed images:

* the activation error of the layer's output as the next layer reads it (after its QuantizeLinear /
  DequantizeLinear pair): SQNR in dB (signal power over error power; every 6 dB is one bit) and the cosine
  similarity, against the same tensor of the float model. The error is what has built up by that layer
  (every layer before it quantized too), so a sharp drop from one layer to the next points at the culprit;
* its time in the int8 model, from onnxruntime's own profiler (the fused QLinear kernel the layer became),
  as milliseconds per call and as a share of the model's kernel time.

Tensors are matched by name: an edgecv int8 file is quantized from the same graph as the fp32 file of the
same export, so a layer's output keeps its name. TFLite files are compared the same way, on LiteRT's builtin
kernels with every tensor kept (the ai-edge-quantizer keeps the converter's tensor names; layers are shown
by their PyTorch module path). A TFLite report lists every quantized op, not only the heavy ones: hard-swish,
the squeeze-excite multiplications and residual additions each requantize, and ``--keep-float`` can name
their modules. LiteRT does not time single ops from Python, so they get no ms/share.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .._optional import import_optional
from ..errors import EdgecvError, UsageError
from ..resources import cap_threads

QUANTIZED_OPS = ("Conv", "Gemm", "MatMul")
# ops that compute, and so requantize their output when quantized (SiLU is Sigmoid + Mul; squeeze-excite is
# GlobalAveragePool, two Convs, Sigmoid/HardSigmoid and Mul; residuals are Add)
LIGHT_OPS = ("Add", "Sub", "Mul", "Div", "Sigmoid", "HardSigmoid", "HardSwish", "GlobalAveragePool", "AveragePool",
             "ReduceMean", "Concat", "Resize", "Softmax", "LeakyRelu", "Tanh")


@dataclass
class Layer:
    name: str
    op: str
    output: str
    sqnr_db: float
    cosine: float
    ms: float | None = None  # per call in the int8 model
    share: float | None = None  # of the int8 model's kernel time
    float_gain: float | None = None  # headline accuracy points won back by keeping just this layer in float

    def to_dict(self) -> dict:
        return asdict(self)


def _with_outputs(path: Path, names: list[str]):
    """The model with ``names`` added as graph outputs (float tensors of any shape)."""
    onnx = import_optional("onnx", "onnx")
    model = onnx.load(str(path))
    present = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                              for n in names if n not in present)
    return model


def _session(model, threads: int | None, profile_dir: Path | None = None):
    ort = import_optional("onnxruntime", "onnx")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    if profile_dir is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_dir / "ort")
    data = model if isinstance(model, (bytes, str)) else model.SerializeToString()
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _run(session, names: list[str], images: np.ndarray) -> dict[str, list[np.ndarray]]:
    feed = session.get_inputs()[0].name
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for x in images:
        values = session.run(names, {feed: x[None]})
        for n, v in zip(names, values):
            out[n].append(np.asarray(v, np.float64).ravel())
    return out


def _consumers(graph) -> dict[str, list]:
    """The nodes that read each tensor."""
    consumers: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    return consumers


def _as_quantized(consumers: dict[str, list], name: str) -> str:
    """The tensor the next layer reads in place of ``name``: its QuantizeLinear -> DequantizeLinear output. The
    raw output of a quantized Conv is not it: a following ReLU/Clip is folded into the quantization range."""
    for q in consumers.get(name, []):
        if q.op_type == "QuantizeLinear":
            for dq in consumers.get(q.output[0], []):
                if dq.op_type == "DequantizeLinear":
                    return dq.output[0]
    return name  # kept in float


def errors(quantized: Path, reference: Path, images: np.ndarray, threads: int | None = None,
           every: bool = False) -> list[Layer]:
    """SQNR and cosine of every quantized layer's output (with ``every``, also of every computing op whose
    output is quantized), in graph order."""
    onnx = import_optional("onnx", "onnx")
    q_graph = onnx.load(str(quantized)).graph
    r_outputs = {o for n in onnx.load(str(reference)).graph.node for o in n.output}
    consumers = _consumers(q_graph)
    read = {n.output[0]: _as_quantized(consumers, n.output[0]) for n in q_graph.node if n.output}
    layers = [(n.name, n.op_type, n.output[0]) for n in q_graph.node if n.output and n.output[0] in r_outputs and (
              n.op_type in QUANTIZED_OPS or every and n.op_type in LIGHT_OPS and read[n.output[0]] != n.output[0])]
    if not layers:
        raise UsageError(f"{quantized.name} and {reference.name} share no layer outputs: is the reference the float "
                         "model this int8 file was quantized from?")
    seen = {out: read[out] for _, _, out in layers}
    names = [out for _, _, out in layers]
    got = _run(_session(_with_outputs(quantized, list(seen.values())), threads), list(seen.values()), images)
    want = _run(_session(_with_outputs(reference, names), threads), names, images)
    return [_compare(name, op, out, np.concatenate(want[out]), np.concatenate(got[seen[out]]))
            for name, op, out in layers]


def _compare(name: str, op: str, output: str, ref: np.ndarray, q: np.ndarray) -> Layer:
    noise = float(np.sum((ref - q) ** 2))
    signal = float(np.sum(ref ** 2))
    sqnr = 10 * np.log10(signal / noise) if noise > 0 else float("inf")
    norm = float(np.linalg.norm(ref) * np.linalg.norm(q))
    return Layer(name, op, output, round(float(sqnr), 2), round(float(ref @ q / norm), 6) if norm else 1.0)


TFLITE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL")
# ops that compute, and so requantize their output (moves like PAD, SLICE, GATHER, MAX_POOL keep their input's)
TFLITE_LIGHT_OPS = ("ADD", "SUB", "MUL", "DIV", "MEAN", "SUM", "HARD_SWISH", "LOGISTIC", "TANH", "SOFTMAX", "EXP",
                    "AVERAGE_POOL_2D", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "CONCATENATION", "LEAKY_RELU",
                    "PRELU", "RELU", "RELU6", "ELU", "GELU")


def _litert_outputs(path: Path, images: np.ndarray, threads: int | None, every: bool = False,
                    quantized: bool = False) -> tuple[list[tuple[str, str, str]], dict]:
    """Every heavy op's output (with ``every``, every computing op's), dequantized, for each image, with every
    tensor kept (builtin kernels, so the delegate does not hide the intermediates). With ``quantized``, only ops
    whose output is an integer tensor: a layer already in float (the float tail, ``--keep-float``) has no
    quantization error of its own, and keeping it in float again would change nothing."""
    from ..exporters.tflite import module_path
    from ..portable.engines import dequantize, litert_interpreter_module, quantize, quiet_native_stderr

    module = litert_interpreter_module()
    with quiet_native_stderr():
        it = module.Interpreter(model_path=str(path), num_threads=threads, experimental_preserve_all_tensors=True,
                                experimental_op_resolver_type=module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        it.allocate_tensors()
    tensors = {d["index"]: d for d in it.get_tensor_details()}
    heavy = [(tensors[o["outputs"][0]], o["op_name"]) for o in it._get_ops_details()
             if len(o["outputs"]) and (o["op_name"] in TFLITE_OPS or every and o["op_name"] in TFLITE_LIGHT_OPS)
             and not (quantized and tensors[o["outputs"][0]]["dtype"] not in (np.int8, np.uint8, np.int16))]
    inp = it.get_input_details()[0]
    values: dict[str, list[np.ndarray]] = {d["name"]: [] for d, _ in heavy}
    for x in images:
        x = x[None].astype(np.float32)
        scale, zero = inp.get("quantization", (0.0, 0))
        it.set_tensor(inp["index"], quantize(x, inp["dtype"], scale, zero) if scale else x.astype(inp["dtype"]))
        it.invoke()
        for d, _ in heavy:
            y = it.get_tensor(d["index"])
            scale, zero = d.get("quantization", (0.0, 0))
            values[d["name"]].append((dequantize(y, scale, zero) if scale else y).astype(np.float64).ravel())
    return [(module_path(d["name"]), op, d["name"]) for d, op in heavy], values


def tflite_errors(quantized: Path, reference: Path, images: np.ndarray, threads: int | None = None,
                  every: bool = False) -> list[Layer]:
    """SQNR and cosine of every heavy op's output (with ``every``, every op's: hard-swish, squeeze-excite
    multiplications, residual additions, ...) of an int8 ``.tflite`` against its float model (tensors are
    matched by the converter's names, which the quantizer keeps)."""
    layers, got = _litert_outputs(quantized, images, threads, every, quantized=True)
    _, want = _litert_outputs(reference, images, threads, every)
    layers = [entry for entry in layers if entry[2] in want]
    if not layers:
        raise UsageError(f"{quantized.name} and {reference.name} share no layer outputs: is the reference the float "
                         "model this int8 file was quantized from?")
    return [_compare(name, op, out, np.concatenate(want[out]), np.concatenate(got[out])) for name, op, out in layers]


def kernel_times(quantized: Path, images: np.ndarray, threads: int | None = None, runs: int = 10) -> dict[str, float]:
    """Milliseconds per call of each node onnxruntime ran (after its QDQ fusion), by node name."""
    with tempfile.TemporaryDirectory(prefix="edgecv-layers-") as folder:  # the trace goes, and its folder with it
        session = _session(str(quantized), threads, profile_dir=Path(folder))
        feed = session.get_inputs()[0].name
        for k in range(runs + 2):
            session.run(None, {feed: images[k % len(images)][None]})
        events = json.loads(Path(session.end_profiling()).read_text())
    totals: dict[str, list[float]] = {}
    for e in events:
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time"):
            totals.setdefault(e["name"][: -len("_kernel_time")], []).append(e["dur"] / 1e3)
    # the first calls warm up: keep the last ``runs`` of each node
    return {name: float(np.mean(times[-runs:])) for name, times in totals.items()}


def runs_node(kernel: str, node: str) -> bool:
    """Whether onnxruntime's kernel ``kernel`` ran graph node ``node``: a kernel keeps its node's name, a fused one
    adds ``_token_N`` (``node_Conv_12_token_3``) or ``/Fusion`` (not ``node_linear_1`` for ``node_linear``)."""
    return kernel == node or kernel.startswith((node + "_token_", node + "/"))


def attach_times(layers: list[Layer], times: dict[str, float]) -> None:
    """Give each layer the time of the kernels that ran it, and its share of the total."""
    total = sum(times.values())
    for layer in layers:
        mine = [t for kernel, t in times.items() if runs_node(kernel, layer.name)]
        if mine:
            layer.ms = round(sum(mine), 4)
            layer.share = round(sum(mine) / total, 4) if total else None


def float_gains(artifact: Path, reference: Path, meta: dict, layers: list[Layer], data: str,
                eval_limit: int | None, threads: int | None) -> dict[str, float]:
    """For each of ``layers``: quantize ``reference`` again exactly as the export did (its recorded
    calibration), with just that layer kept in float, and measure the headline accuracy on ``data``'s val
    split. Fills ``Layer.float_gain`` (points against the int8 file itself, measured the same way) and returns
    the int8 and float accuracies for context."""
    from ..exporters.calibration import load_images
    from ..metrics import HEADLINE
    from ..preprocess import Preprocess
    from ..runtimes import load
    from ..scoring import score
    from .requantize import requantize

    cal = meta.get("calibration") or {}
    if not cal.get("data"):
        raise UsageError(f"{artifact.name} does not record its calibration (re-export it with this edgecv)")
    metric = HEADLINE[meta["task"]]
    images, _ = load_images(cal["data"], Preprocess.from_dict(meta["preprocess"]), int(cal["images"]),
                            cal.get("split") or "train")

    def accuracy(path: Path) -> float:
        with load(path, threads=threads) as session:
            return score(session, data, eval_limit)[metric]

    baseline = {"int8": accuracy(artifact), "fp32": accuracy(reference)}
    with tempfile.TemporaryDirectory(prefix="edgecv-layers-") as tmp:
        for layer in layers:
            wide = tuple(n for n in cal.get("int16") or () if n != layer.name)
            variant = requantize(reference, Path(tmp) / f"variant{artifact.suffix}", meta, images,
                                 cal.get("method", "minmax"), tuple(cal.get("keep_float") or ()) + (layer.name,), wide)
            layer.float_gain = round(accuracy(variant) - baseline["int8"], 3)
    return {"metric": metric, **baseline}


def layer_errors(quantized: Path, reference: Path, images: np.ndarray, threads: int | None = None,
                 timed: bool = True, every: bool = False) -> list[Layer]:
    """Per-layer errors of an int8 file of either format (ONNX ones also timed, unless ``timed`` is False), with
    ``every`` of every computing op, not only the heavy ones."""
    if quantized.suffix == ".tflite":  # LiteRT times no single op from Python: errors only
        return tflite_errors(quantized, reference, images, threads, every)
    layers = errors(quantized, reference, images, threads, every)
    if timed:
        attach_times(layers, kernel_times(quantized, images, threads))
    return layers


def analyse(artifact: str | Path, reference: str | Path | None = None, data: str | None = None, limit: int = 32,
            threads: int | None = None, float_layers: int = 0, eval_limit: int | None = 500, facts=None) -> dict:
    """``edgecv layers``: every quantized layer of ``artifact`` (an int8 ``.onnx`` or ``.tflite``) against ``reference`` (the
    float file it came from; default: the fp32 file of the same export beside it), on ``limit`` val images of
    ``data`` (default: the data recorded at export). With ``float_layers`` K, the K layers of lowest SQNR
    are each kept in float in turn and the accuracy won back is measured on ``eval_limit`` val images."""
    from ..artifact import read_metadata
    from ..data import get_dataset
    from ..portable.preprocess import preprocess_batch
    from ..preprocess import Preprocess

    path = Path(artifact)
    if path.suffix not in (".onnx", ".tflite"):
        raise UsageError(f"edgecv layers reads int8 .onnx and .tflite files, not {path.name}")
    meta = read_metadata(path)
    if facts or not meta:  # a file from another tool: its facts from every source (interop.describe)
        from ..interop import unscorable
        from ..runtimes import load

        with load(path, threads=threads, facts=facts) as session:
            meta = session.metadata
        why = unscorable(meta, path.name)
        if why:
            raise UsageError(f"no real images can be fed to it: {why}")
    if reference is None:
        guess = path.with_name(path.name.replace(f"-{meta.get('precision')}", "-fp32", 1))
        if guess == path or not guess.is_file():
            raise UsageError(f"no fp32 file of the same export beside {path.name}; name the float model: "
                             f"edgecv layers {path.name} FP32.onnx")
        reference = guess
    reference = Path(reference)
    if not reference.is_file():
        raise UsageError(f"reference model not found: {reference}")
    data = data or (meta.get("source") or {}).get("data")
    if data is None:
        raise UsageError(f"say which images to analyse {path.name} on with --data")
    pre = Preprocess.from_dict(meta["preprocess"])
    ds = get_dataset(data, "val", imgsz=pre.input_size, limit=limit)
    images, _ = preprocess_batch([ds[i][0] for i in range(len(ds))], pre)
    threads = cap_threads(threads)
    report = {"artifact": str(path), "reference": str(reference), "data": data, "images": len(images)}
    try:
        layers = layer_errors(path, reference, images, threads, every=True)
        if float_layers:
            worst = sorted(layers, key=lambda layer: layer.sqnr_db)[:float_layers]
            report["accuracy"] = {**float_gains(path, reference, meta, worst, data, eval_limit, threads),
                                  "eval_images": eval_limit}
    except EdgecvError:
        raise
    except Exception as exc:  # onnx, onnxruntime or LiteRT refusing one of the files: one line naming them
        from ..exporters.base import first_line

        raise EdgecvError(f"cannot analyse {path.name} against {reference.name}: {type(exc).__name__}: "
                          f"{first_line(exc)[:300]}") from None
    return {**report, "layers": [layer.to_dict() for layer in layers]}
__all__ = ["Layer", "analyse", "attach_times", "errors", "kernel_times", "layer_errors", "runs_node", "tflite_errors"]
