"""Real images for int8 calibration and for the parity check, preprocessed exactly as the model expects.

Calibration draws from the training split (falling back to val when a dataset has no train split), parity
from the validation split, so the parity check does not grade the artifact on its own calibration images.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..data import get_dataset
from ..errors import DataError
from ..portable.preprocess import preprocess_batch
from ..preprocess import Preprocess


def load_images(data: str, pre: Preprocess, count: int, split: str, seed: int = 0) -> tuple[np.ndarray, str]:
    """``count`` images spread over ``split`` of ``data`` as one NCHW float32 array, and the split used."""
    try:
        ds = get_dataset(data, split, imgsz=pre.input_size)
    except DataError:
        if split != "train":
            raise
        ds, split = get_dataset(data, "val", imgsz=pre.input_size), "val"
    order = np.random.default_rng(seed).permutation(len(ds))[:count]
    images = [ds[int(i)][0] for i in sorted(order)]
    x, _ = preprocess_batch(images, dataclasses.replace(pre, layout="NCHW"))
    return x.astype(np.float32), split

