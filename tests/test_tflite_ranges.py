"""TFLite int8 activation ranges: true min/max, percentile-clipped, and ai-edge-quantizer's moving average."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_quantizer")


@pytest.fixture(scope="module")
def ranges(zoo_artifacts):
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    from edgecv.artifact import read_metadata
    from edgecv.exporters.calibration import load_images
    from edgecv.exporters.tflite import _signature
    from edgecv.exporters.tflite_ranges import METHODS, activation_ranges
    from edgecv.preprocess import Preprocess

    fp32 = zoo_artifacts[("mobilenet_v2", "tflite", "fp32")].path
    pre = Preprocess.from_dict(read_metadata(fp32)["preprocess"])
    x, _ = load_images("shapes", pre, 12, "train")
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # the file's NHWC input
    signature, input_name = _signature(fp32)
    samples = [{input_name: x[i:i + 1]} for i in range(len(x))]
    got = {}
    for method in METHODS:
        q = quantizer.Quantizer(str(fp32))
        q.load_quantization_recipe(recipe.static_wi8_ai8())
        got[method] = activation_ranges(q, fp32, signature, samples, method, 2)
    # every tensor's values on every image, straight from the interpreter
    interp = Interpreter(model_path=str(fp32), experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    index = {t["name"]: t["index"] for t in interp.get_tensor_details()}
    names = [n for n, r in got["minmax"].items() if r and n in index and np.size(r["min"]) == 1][:40]
    values = {n: [] for n in names}
    for sample in samples:
        interp.set_tensor(interp.get_input_details()[0]["index"], sample[input_name])
        interp.invoke()
        for n in names:
            values[n].append(interp.get_tensor(index[n]).ravel().copy())
    return got, {n: np.concatenate(v) for n, v in values.items()}


def test_minmax_is_the_range_of_every_calibration_value(ranges):
    got, values = ranges
    for name, v in values.items():
        assert float(np.min(got["minmax"][name]["min"])) == pytest.approx(min(float(v.min()), 0.0), abs=1e-5)
        assert float(np.max(got["minmax"][name]["max"])) == pytest.approx(max(float(v.max()), 0.0), abs=1e-5)


def test_the_moving_average_is_narrower_than_the_true_range(ranges):
    """ai-edge-quantizer's own calibration averages each image's min/max (what edgecv shipped as "minmax" before):
    inside the true range, and strictly inside it somewhere."""
    got, values = ranges
    lo = [(float(np.min(got["ema"][n]["min"])), float(np.min(got["minmax"][n]["min"]))) for n in values]
    hi = [(float(np.max(got["ema"][n]["max"])), float(np.max(got["minmax"][n]["max"]))) for n in values]
    assert all(e >= m - 1e-5 for e, m in lo) and all(e <= m + 1e-5 for e, m in hi)
    assert any(e < m - 1e-3 for e, m in hi)


def test_percentile_clips_each_range_to_the_percentiles_of_its_values(ranges):
    from edgecv.exporters.tflite_ranges import BINS, PERCENTILE

    got, values = ranges
    narrowed = 0
    for name, v in values.items():
        low, high = float(np.min(got["percentile"][name]["min"])), float(np.max(got["percentile"][name]["max"]))
        full_low, full_high = float(np.min(got["minmax"][name]["min"])), float(np.max(got["minmax"][name]["max"]))
        assert full_low <= low <= 0.0 <= high <= full_high  # inside the true range, zero kept
        if full_high <= full_low:
            continue
        step, tail = (full_high - full_low) / BINS, (100 - PERCENTILE) / 100  # one histogram bin; the share clipped
        if high > 0:  # no more than the tail above it, and no tighter than the histogram's bins allow
            assert np.mean(v > high + 1e-6) <= tail and np.mean(v >= high - step - 1e-6) >= tail
        if low < 0:
            assert np.mean(v < low - 1e-6) <= tail and np.mean(v <= low + step + 1e-6) >= tail
        narrowed += high < full_high - step
    assert narrowed > 0
