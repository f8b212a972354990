"""What keeping layers in float costs in time: the whole model, and (ONNX) each float layer.

A layer kept in float in a QDQ ONNX file runs as a float kernel with a DequantizeLinear in front of it and
a QuantizeLinear behind it, where the all-int8 file ran one fused QLinear kernel. Its cost is the time of
those kernels (onnxruntime's own profiler) minus the time the layer took in the all-int8 file. LiteRT does
not time single ops from Python, so a ``.tflite`` search reports the whole model only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def model_ms(paths: dict[str, Path], x: np.ndarray, threads: int | None = None, rounds: int = 5,
             per_round: int = 10) -> dict[str, float]:
    """Median batch-1 latency of each file on the same input, timed in alternating rounds (a drifting machine
    load hits every file alike)."""
    from ..runtimes import load

    sessions = {key: load(path, threads=threads) for key, path in paths.items()}
    try:
        feeds = {key: s.prepare(x[None] if x.ndim == 3 else x) for key, s in sessions.items()}
        times: dict[str, list[float]] = {key: [] for key in sessions}
        for _ in range(rounds):
            for key, session in sessions.items():
                times[key] += session.time(feeds[key], warmup=2, iters=per_round)[1]
    finally:
        for session in sessions.values():
            session.close()
    return {key: round(float(np.median(t)), 4) for key, t in times.items()}


def _neighbours(graph, layer: str) -> list[str]:
    """The layer's node and the DequantizeLinear/QuantizeLinear nodes that feed it and read its output."""
    producer = {o: n for n in graph.node for o in n.output}
    node = next((n for n in graph.node if n.name == layer), None)
    if node is None:
        return [layer]
    near = [producer[i].name for i in node.input if i in producer and producer[i].op_type == "DequantizeLinear"]
    near += [n.name for n in graph.node if n.op_type == "QuantizeLinear" and set(n.input) & set(node.output)]
    return [layer, *near]


def _kernel_ms(times: dict[str, float], names: list[str]) -> float:
    """Time of the kernels onnxruntime ran for ``names``."""
    from .layers import runs_node

    return sum(t for kernel, t in times.items() if any(runs_node(kernel, n) for n in names))


def float_layer_ms(chosen: Path, plain: Path, keep: list[str], images: np.ndarray,
                   threads: int | None = None) -> dict[str, float]:
    """For each layer of ``keep``: its kernels' ms per call in ``chosen`` (where it is float, with its Q/DQ
    nodes) minus its kernels' ms in ``plain`` (the all-int8 file). Positive is slower."""
    from .._optional import import_optional
    from .layers import kernel_times

    graph = import_optional("onnx", "onnx").load(str(chosen)).graph
    got, base = kernel_times(chosen, images, threads), kernel_times(plain, images, threads)
    return {layer: round(_kernel_ms(got, _neighbours(graph, layer)) - _kernel_ms(base, [layer]), 4)
            for layer in keep}


__all__ = ["float_layer_ms", "model_ms"]
