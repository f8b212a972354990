"""The one place a recorded profile matrix (a baseline's ``matrix``) is read back into ``profile()`` arguments.

A baseline is data. In CI it often comes from the branch under test, so nothing in it may run code: a
``module.py:factory`` target is refused unless the same target is named on the command line with
``--allow-module``. Every other value is checked for its type before any work starts, and anything unknown
is refused with one line naming the key.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError

_LISTS = ("format", "precision", "runtime", "provider", "device")  # a comma-separated string or a list of them
_INTS = {"limit": 1, "batch": 1, "threads": 1, "warmup": 0, "iters": 1}  # name -> smallest allowed value
KEYS = {"targets", *_LISTS, "data", "imgsz", "min_time_s", "input_shapes", *_INTS}


def profile_arguments(matrix: Any, source: str, allow_modules: tuple[str, ...] = ()) -> dict[str, Any]:
    """Validated keyword arguments for ``edgecv.profile`` from a recorded ``matrix`` (``source`` names the
    file in messages)."""
    from ..models.resolve import is_user_module

    def bad(key: str, want: str) -> UsageError:
        return UsageError(f"{source}: matrix.{key} must be {want}, not {matrix.get(key)!r}"[:300])

    if not isinstance(matrix, dict):
        raise UsageError(f"{source}: its matrix is not an object")
    unknown = sorted(set(matrix) - KEYS)
    if unknown:
        raise UsageError(f"{source}: unknown matrix key {unknown[0]!r}")
    targets = matrix.get("targets")
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) and t for t in targets):
        raise bad("targets", "a non-empty list of names or paths")
    for target in targets:
        if is_user_module(target) and target not in allow_modules:
            raise UsageError(f"{source} names Python code as a target ({target}); a baseline is data and cannot "
                             f"run code. To profile it anyway, name it yourself: --allow-module {target}")
    args: dict[str, Any] = {"targets": list(targets)}
    for key in _LISTS:
        value = matrix.get(key)
        if value is not None and not (isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value))):
            raise bad(key, "a string or a list of strings")
        args[key] = value
    data = matrix.get("data")
    if data is not None and not isinstance(data, str):
        raise bad("data", "a dataset name or path")
    args["data"] = data
    for key, least in _INTS.items():
        value = matrix.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise bad(key, f"an integer of at least {least}")
        args[key] = value
    imgsz = matrix.get("imgsz")
    if imgsz is not None and (isinstance(imgsz, bool) or not isinstance(imgsz, (int, str))):
        raise bad("imgsz", "N or HxW")
    args["imgsz"] = imgsz
    min_time = matrix.get("min_time_s")
    if min_time is not None and (isinstance(min_time, bool) or not isinstance(min_time, (int, float))
                                 or not 0 <= min_time < 3600):
        raise bad("min_time_s", "seconds between 0 and 3600")
    args["min_time_s"] = min_time
    shapes = matrix.get("input_shapes") or []
    if not isinstance(shapes, list) or not all(isinstance(s, str) for s in shapes):
        raise bad("input_shapes", "a list of NAME=1x3x640x640")
    args["input_shapes"] = shapes
    defaults = {"batch": 1, "warmup": 10, "iters": 50, "min_time_s": 1.0}
    return {k: (defaults[k] if v is None and k in defaults else v) for k, v in args.items()}
