"""The tracker's own time per frame (``portable/tracker.py``), by number of objects, with scipy's Hungarian and
with the numpy one a board without scipy uses.

    python benchmarks/tracker_speed.py [--frames 300]

Objects move at constant velocity with 1 px of box noise; every frame's detections go through
``Tracker.update`` (predict, match, correct, births and deaths). Prints the median and the 99th percentile
milliseconds per frame; the goal is under 1 ms for up to 20 objects.
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np


def per_frame_ms(objects: int, frames: int, numpy_only: bool) -> np.ndarray:
    from edgecv.portable import tracker as module

    rng = np.random.default_rng(objects)
    start, velocity = rng.uniform(0, 1200, (objects, 2)), rng.uniform(-4, 4, (objects, 2))
    times = []
    patch = mock.patch.object(module, "hungarian", module.hungarian_numpy) if numpy_only else mock.patch.object(
        module, "hungarian", module.hungarian)
    with patch:
        tr = module.Tracker()
        for f in range(frames):
            xy = start + velocity * f
            boxes = np.concatenate([xy, xy + 40], 1) + rng.normal(0, 1, (objects, 4))
            t = time.perf_counter()
            tr.update(boxes, np.ones(objects), np.zeros(objects))
            times.append(time.perf_counter() - t)
    return np.array(times[5:]) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    print(f"{'objects':>7s} {'scipy p50':>9s} {'p99':>7s} {'numpy p50':>9s} {'p99':>7s}  (ms per frame)")
    for objects in (1, 5, 10, 20, 50):
        a, b = per_frame_ms(objects, args.frames, False), per_frame_ms(objects, args.frames, True)
        print(f"{objects:7d} {np.median(a):9.3f} {np.percentile(a, 99):7.3f} {np.median(b):9.3f} "
              f"{np.percentile(b, 99):7.3f}")


if __name__ == "__main__":
    main()
