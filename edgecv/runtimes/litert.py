"""LiteRT (TFLite) sessions through ``ai_edge_litert``'s interpreter and the model's default signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._optional import import_optional
from ..errors import EdgecvError
from .base import Session, TensorInfo


def _info(name: str, d: dict) -> TensorInfo:
    scale, zero_point = d.get("quantization", (0.0, 0))
    shape = tuple(int(s) if s > 0 else None for s in d.get("shape_signature", d["shape"]))
    return TensorInfo(name, shape, np.dtype(d["dtype"]), float(scale) if scale else None, int(zero_point))


def _natural(item: tuple[str, dict]) -> tuple:
    """``output_2`` before ``output_10``."""
    name = item[0]
    head = name.rstrip("0123456789")
    return (head, int(name[len(head):]) if name[len(head):] else -1)


class LiteRTSession(Session):
    def __init__(self, path: Path, threads: int | None = None) -> None:
        interpreter = import_optional("ai_edge_litert.interpreter", "tflite", "ai-edge-litert")
        try:
            self.interpreter = interpreter.Interpreter(model_path=str(path), num_threads=threads)
            signatures = self.interpreter.get_signature_list()
        except Exception as exc:
            raise EdgecvError(f"LiteRT cannot load {path.name}: {str(exc).splitlines()[0]}") from None
        if not signatures:
            raise EdgecvError(f"{path.name} has no signature; re-export it with a current converter")
        self.runner = self.interpreter.get_signature_runner(next(iter(signatures)))
        ins, outs = self.runner.get_input_details(), self.runner.get_output_details()
        self.inputs = [_info(n, d) for n, d in ins.items()]
        self.outputs = [_info(n, d) for n, d in sorted(outs.items(), key=_natural)]

    def _infer(self, x: np.ndarray) -> list[np.ndarray]:
        result = self.runner(**{self.inputs[0].name: x})
        return [result[o.name] for o in self.outputs]
