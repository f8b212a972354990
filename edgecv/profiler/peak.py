"""The device's measured peak MAC rate, the denominator of each row's ``efficiency``.

Once per device and run, a large GEMM (1024 x 1024 x 1024, 1.07 G MACs) is timed in fp32 (``MatMul``) and in
int8 (``MatMulInteger``, uint8 x int8 -> int32, the kernel onnxruntime's quantized convolutions use) with
onnxruntime on that device -- over qemu or SSH as well, through the same session as the rows. The best call
of each is the peak. A row's efficiency is its achieved MAC/s (model MACs / p50) over the peak of its precision
class (int8 rows against int8, others against fp32). Every runtime's rows share these peaks: the physical
limit belongs to the CPU, and onnxruntime's GEMM is the one measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..artifact import write_atomic
from ..cache import cache_dir

if TYPE_CHECKING:
    from .row import Row

SIZE = 1024


def gemm_models(folder: Path | None = None) -> dict[str, Path]:
    """Write (once) the fp32 and int8 GEMM ONNX files; returns ``{"fp32": path, "int8": path}``."""
    from onnx import TensorProto, helper, numpy_helper

    folder = folder or cache_dir("peak")
    paths = {"fp32": folder / f"gemm{SIZE}-fp32.onnx", "int8": folder / f"gemm{SIZE}-int8.onnx"}
    rng = np.random.default_rng(0)
    for kind, path in paths.items():
        if path.is_file():
            continue
        if kind == "fp32":
            weight = numpy_helper.from_array(rng.standard_normal((SIZE, SIZE)).astype(np.float32), "w")
            node = helper.make_node("MatMul", ["a", "w"], ["y"])
            a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
        else:
            weight = numpy_helper.from_array(rng.integers(-127, 128, (SIZE, SIZE)).astype(np.int8), "w")
            node = helper.make_node("MatMulInteger", ["a", "w"], ["y"])
            a_type, y_type = TensorProto.UINT8, TensorProto.INT32
        graph = helper.make_graph([node], f"gemm_{kind}", [helper.make_tensor_value_info("a", a_type, [SIZE, SIZE])],
                                  [helper.make_tensor_value_info("y", y_type, [SIZE, SIZE])], [weight])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        write_atomic(path, model.SerializeToString())  # a full cache leaves no .tmp behind, and names the file
    return paths


TRIES = 3  # a peak measured while other work takes cores is measured again, this many times in all
RETRY_WAIT_S = 2.0


def measure_peak(device: str = "host", threads: int | None = None, iters: int = 10) -> dict[str, Any]:
    """``{"fp32_gmacs", "int8_gmacs", "runtime", "device"}`` from the best of ``iters`` GEMM calls each.

    On the host the machine is watched while the GEMMs run (``stability.Load``): a peak measured while other
    processes took cores is a fraction of the CPU's (44.8 against 157.6 GMAC/s once), so it is measured again
    after a pause, and if every try was busy it comes back with ``busy`` (the cores others used), and no row's
    efficiency is divided by it."""
    import time

    from .stability import MIN_OTHERS, Load

    peak: dict[str, Any] = {}
    for attempt in range(TRIES if device == "host" else 1):
        if attempt:
            time.sleep(RETRY_WAIT_S)
        watch = Load() if device == "host" else None
        peak = _gemm_peak(device, threads, iters)
        others = watch.stop()["others_cores"] if watch else None
        if others is None or others < MIN_OTHERS:
            return peak
        peak["busy"] = {"others_cores": others, "tries": attempt + 1}
    return peak


def _gemm_peak(device: str, threads: int | None, iters: int) -> dict[str, Any]:
    from ..runtimes import load
    from .latency import measure

    peak: dict[str, Any] = {"runtime": "onnxruntime", "device": device, "gemm": f"{SIZE}x{SIZE}x{SIZE}"}
    for kind, path in gemm_models().items():
        with load(path, "onnxruntime", device=device, threads=threads) as session:
            timing = measure(session, warmup=2, iters=iters, min_time_s=0.0)
        peak[f"{kind}_gmacs"] = SIZE ** 3 / (timing["latency_ms"]["min"] / 1e3) / 1e9
    return peak


def compute_precision(row: Row) -> str | None:
    """The precision a float row was computed in when the runtime chose one lower than the file's (OpenVINO runs
    fp32 in bf16 on CPUs with AMX or AVX-512 BF16), else None."""
    chosen = (row.execution or {}).get("precision")
    if row.precision in ("fp32", "-") and chosen in ("bf16", "fp16"):
        return chosen
    return None


def efficiency(row: Row, peak: dict[str, Any] | None) -> float | None:
    """Achieved MAC/s at the p50 latency over the device's peak for the row's precision class (none against a
    peak measured on a busy machine)."""
    if not peak or peak.get("busy") or not row.ok or not row.macs or not row.p50:
        return None
    if compute_precision(row) is not None:  # computed in bf16/f16: no GEMM peak of that precision is measured
        return None
    rate = peak.get("int8_gmacs" if row.precision.startswith("int8") else "fp32_gmacs")
    if not rate:
        return None
    achieved = row.macs / (row.p50 / 1e3) / 1e9
    return achieved / rate
