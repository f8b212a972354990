"""Which shape each input is fed at (a dynamic batch, height/width or channel made concrete, the same rule
on the host and on a board) and synthetic inputs at those shapes."""

from __future__ import annotations

import numpy as np

from .errors import DeviceError

DEFAULT_IMGSZ = 640  # a dynamic height/width with no --imgsz: a size detectors (YOLO, PaddleOCR det) accept


MIN_SPATIAL = 8  # below this a "spatial" dim is almost surely a placeholder, never a real image


def parse_shape(text: str) -> list:
    """``1x3x640x640`` (or ``1,3,640,640``) -> ``[1, 3, 640, 640]``."""
    try:
        dims = [int(d) for d in text.replace(",", "x").lower().split("x")]
    except ValueError:
        raise DeviceError(f"bad shape {text!r}: write it as 1x3x640x640") from None
    if not dims or any(d < 1 for d in dims):
        raise DeviceError(f"bad shape {text!r}: every dimension must be a positive integer")
    return dims


def parse_hw(text) -> tuple:
    """``640`` or ``"640"`` -> ``(640, 640)``; ``"480x640"`` -> ``(480, 640)`` (height x width, at least 8)."""
    try:
        dims = parse_shape(str(text))
    except DeviceError:
        dims = []
    if len(dims) not in (1, 2) or min(dims) < MIN_SPATIAL:
        raise DeviceError(f"--imgsz takes N or HxW with sides of at least {MIN_SPATIAL}, not {text!r}")
    return dims[0], dims[-1]


def parse_input_shapes(items) -> dict:
    """``["images=1x3x640x640"]`` -> ``{"images": [1, 3, 640, 640]}``."""
    shapes = {}
    for item in items:
        name, sep, dims = item.rpartition("=")
        if not sep or not name:
            raise DeviceError(f"--input-shape takes NAME=1x3x640x640, not {item!r}")
        shapes[name] = parse_shape(dims)
    return shapes


def _image_axes(shape: list) -> tuple | None:
    """``(height, width)`` axes of a rank-4 image-like input: NCHW when dim 1 looks like channels, else NHWC."""
    if len(shape) != 4:
        return None
    if shape[1] in (1, 2, 3, 4) or (shape[1] is None and shape[3] not in (1, 2, 3, 4)):
        return 2, 3
    if shape[3] in (1, 2, 3, 4) or shape[3] is None:
        return 1, 2
    return None


def concrete_shapes(specs: list, imgsz=None, batch: int = 1, overrides: dict | None = None) -> tuple:
    """The shape each input is fed at: ``({name: [dims]}, [notes])``.

    ``specs`` are ``{name, shape (None = dynamic, or None for an unknown rank), dtype}``. An override
    (``--input-shape NAME=1x3x640x640``) wins; else a dynamic first dim is ``batch``; the height/width of an
    image-like input are ``imgsz`` (an int or ``(h, w)``) when given, else what the file fixes, else
    ``DEFAULT_IMGSZ`` (said in a note); a dynamic channel dim is 3. Anything still dynamic, or an input
    that cannot be synthesised (strings, unknown rank), raises naming the input."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - {s["name"] for s in specs}
    if unknown:
        raise DeviceError(f"--input-shape names {', '.join(sorted(unknown))}, but the model's inputs are "
                          f"{', '.join(s['name'] for s in specs)}")
    hw = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(imgsz) if imgsz else None
    shapes, notes = {}, []
    for spec in specs:
        name, shape = spec["name"], spec["shape"]
        kind = str(spec.get("dtype"))
        if kind.startswith(("str", "<U", "|S", "object")) or kind in ("string", "bytes"):
            raise DeviceError(f"input {name!r} takes {kind}: edgecv cannot synthesise it")
        if shape is None:
            if name not in overrides:
                raise DeviceError(f"input {name!r} has no known rank: give its shape with --input-shape "
                                  f"{name}=1x3x640x640")
            shape = [None] * len(overrides[name])
        shape = list(shape)
        if name in overrides:
            given = list(overrides[name])
            if len(given) != len(shape) or any(d is not None and d != g for d, g in zip(shape, given)):
                raise DeviceError(f"--input-shape {name}={'x'.join(map(str, given))} does not fit the model's "
                                  f"{format_shape(shape)}")
            shapes[name] = given
            continue
        if shape and shape[0] is None:
            shape[0] = batch
        axes = _image_axes(shape)
        if axes:
            channel = 1 if axes == (2, 3) else 3
            if shape[channel] is None:
                shape[channel] = 3
            fixed = tuple(shape[a] for a in axes)
            if hw and any(f is not None and f != w for f, w in zip(fixed, hw)):
                raise DeviceError(f"input {name!r} is fixed at {format_shape(shape)}: --imgsz "
                                  f"{hw[0]}x{hw[1]} cannot apply")
            if None in fixed:
                size = hw or (DEFAULT_IMGSZ, DEFAULT_IMGSZ)
                for a, s in zip(axes, size):
                    shape[a] = shape[a] if shape[a] is not None else s
                if not hw:
                    notes.append(f"input {name!r} has a dynamic height/width ({format_shape(spec['shape'])}): "
                                 f"timed at {shape[axes[0]]}x{shape[axes[1]]}; choose with --imgsz HxW")
        if None in shape:
            raise DeviceError(f"input {name!r} has dynamic dims {format_shape(spec['shape'])} edgecv cannot "
                              f"choose: give --input-shape {name}=...")
        shapes[name] = shape
    from .memory import check_fits, inputs_need

    check_fits("inputs of " + ", ".join(f"{n}={format_shape(d)}" for n, d in shapes.items()), inputs_need(shapes),
               "use a smaller --imgsz, --batch or --input-shape")  # before any array is made
    return shapes, notes


def format_shape(shape) -> str:
    return "?" if shape is None else "x".join("?" if d is None else str(d) for d in shape)


def synthetic_array(shape: list, dtype, quantized: bool = False, rng=None) -> np.ndarray:
    """Random input of ``shape``: float32 (quantized inputs are fed float and quantized with the file's scale),
    integers over their image range (uint8 0-255, int8 -128-127), booleans."""
    rng = rng if rng is not None else np.random.default_rng(0)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 1, shape, endpoint=True).astype(np.bool_)
    if np.issubdtype(dtype, np.integer) and not quantized:
        low = -128 if dtype == np.int8 else 0  # ids and indices stay non-negative
        return rng.integers(low, min(np.iinfo(dtype).max, 255), shape, endpoint=True).astype(dtype)
    if np.issubdtype(dtype, np.floating) or quantized:
        want = np.dtype(np.float32 if quantized else dtype)
        if want in (np.float32, np.float64):  # drawn in the dtype itself: no float64 copy of a large input
            return rng.standard_normal(shape, dtype=want)
        return rng.standard_normal(shape, dtype=np.float32).astype(want)
    raise DeviceError(f"cannot synthesise an input of dtype {dtype}")


def synthetic_feeds(model, imgsz=None, batch: int = 1, overrides: dict | None = None) -> tuple:
    """Random inputs for ``model`` at the shapes ``concrete_shapes`` chooses, in the model's own dtypes, and
    its notes."""
    rng = np.random.default_rng(0)
    shapes, notes = concrete_shapes(model.inputs, imgsz, batch, overrides)
    return {s["name"]: synthetic_array(shapes[s["name"]], s["dtype"], rng=rng) for s in model.inputs}, notes
