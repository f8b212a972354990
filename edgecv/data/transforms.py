"""The preprocessing contract (``edgecv.preprocess.Preprocess``) applied to pixels, in numpy only.

Resampling is separable and antialiased like Pillow's ``Image.resize`` (the filter widens when
shrinking), written as two small matrix products so the same arithmetic can run anywhere numpy does.
The code lives in the on-device core (``edgecv/portable/preprocess.py``) and is imported
from there, so training, evaluation, every runtime and the device itself share one definition.
"""

from __future__ import annotations

from ..portable.preprocess import (
                                     Geometry,
                                     geometry_and_pixels,
                                     preprocess,
                                     preprocess_batch,
                                     resize,
                                     resize_matrix,
                                     to_colour,
)

__all__ = ["Geometry", "geometry_and_pixels", "preprocess", "preprocess_batch", "resize", "resize_matrix",
           "to_colour"]
