"""The PyTorch model itself, as the reference every artifact is compared with.

It opens what the exporter starts from -- a zoo name (default weights, or ``weights=FILE``), a checkpoint
from ``edgecv train`` or ``module.py:factory`` -- and presents it like an artifact: an NCHW float32 input
with a free batch, outputs by role (``logits``, or decoded ``boxes`` and ``scores``), and metadata built
from the model card, so the same predictor, evaluator and ``edgecv predict`` serve it too.
Providers: ``cpu`` and ``cuda``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..artifact import model_metadata, output_roles
from ..errors import MissingDependencyError
from .runtime import Runtime
from .session import Session, TensorInfo


class TorchRuntime(Runtime):
    name = "torch"
    providers = ("cpu", "cuda")
    requires = ("torch",)
    install = "pip install torch==2.13.0"

    def available_providers(self) -> list[str]:
        import torch

        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]

    def _check_target(self, target: Any) -> Any:
        return str(target)  # resolved (and checked) by load_target when opened

    def _open(self, target: str, provider: str, threads: int | None, weights: str | None = None,
              imgsz: int | None = None) -> Session:
        return TorchSession(target, provider, threads, weights, imgsz)


class TorchSession(Session):
    def __init__(self, target: str, provider: str = "cpu", threads: int | None = None, weights: str | None = None,
                 imgsz: int | None = None) -> None:
        import torch

        from ..models.resolve import is_user_module, load_target, load_user_module

        if provider == "cuda" and not torch.cuda.is_available():
            raise MissingDependencyError("the torch runtime's cuda provider needs a CUDA build of torch and a GPU")
        if threads:
            torch.set_num_threads(threads)
        if is_user_module(target):
            net = load_user_module(target, weights, input_size=imgsz or 224)
        else:
            net = load_target(target, weights, require_weights=True)
        self.torch, self.device_name = torch, provider
        self.net = net.eval().to(provider)
        card = net.card
        pre = card.preprocess.at_size(imgsz) if imgsz else card.preprocess
        self.task = card.task
        n = pre.input_size
        self.inputs = [TensorInfo("input", (None, pre.channels, n, n), np.dtype(np.float32))]
        roles = output_roles(card.task)
        logits = (None, card.num_classes, n, n) if card.task == "segmentation" else (None, card.num_classes)
        shapes = {"boxes": (None, None, 4), "scores": (None, None, card.num_classes), "logits": logits}
        self.outputs = [TensorInfo(r, shapes[r], np.dtype(np.float32)) for r in roles]
        self.metadata = model_metadata(card, dataclasses.replace(pre, layout="NCHW"), "pytorch", "fp32",
                                       self.inputs, self.outputs, roles, {"target": target, "weights": weights})

    def _infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        from ..models.heads import decoded

        torch = self.torch
        with torch.inference_mode():
            out = decoded(self.net, self.net(torch.from_numpy(np.ascontiguousarray(feeds["input"])).to(self.device_name)))
            outs = out if isinstance(out, tuple) else (out,)
            return [o.float().cpu().numpy() for o in outs]

    def close(self) -> None:
        self.net = None
