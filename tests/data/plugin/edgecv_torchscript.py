"""A third-party edgecv plugin, as a user would write one: a TorchScript export format and the runtime that
opens its files, registered through the ``edgecv.exporters`` and ``edgecv.runtimes`` entry points
(see ``tests/test_plugins.py``). Nothing in edgecv names it."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np

from edgecv.artifact import sidecar_path, write_atomic
from edgecv.exporters import Exporter, ExportJob
from edgecv.runtimes import Runtime, Session, TensorInfo

IO = "edgecv_io.json"  # the I/O facts, stored inside the TorchScript archive


class TorchScriptExporter(Exporter):
    format = "torchscript"
    suffix = ".torchscript"
    default_layout = "NCHW"
    layouts = ("NCHW",)
    precisions = ("fp32",)
    calib_methods = ()
    requires = ("torch",)

    def convert(self, job: ExportJob, precision: str, workdir: Path) -> Path:
        import torch

        sample = torch.from_numpy(job.sample())
        module = job.module.eval()
        with torch.inference_mode():
            traced = torch.jit.trace(module, sample)
            outs = traced(sample)
        outs = outs if isinstance(outs, tuple) else (outs,)
        facts = {"inputs": [{"name": "input", "shape": [None, *sample.shape[1:]], "dtype": "float32"}],
                 "outputs": [{"name": name, "shape": [None, *o.shape[1:]], "dtype": "float32"}
                             for name, o in zip(job.output_names, outs)]}
        path = workdir / f"model{self.suffix}"
        torch.jit.save(traced, str(path), _extra_files={IO: json.dumps(facts)})
        return path

    def embed_metadata(self, src: Path, text: str, dst: Path) -> None:
        write_atomic(sidecar_path(dst), text.encode())  # the format has no metadata table: a sidecar
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)


class TorchScriptRuntime(Runtime):
    name = "torchscript"
    suffixes = (".torchscript",)
    requires = ("torch",)
    install = "pip install torch"

    def _open(self, path: Path, provider: str, threads: int | None) -> Session:
        return TorchScriptSession(path, threads)


class TorchScriptSession(Session):
    def __init__(self, path: Path, threads: int | None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        extra = {IO: ""}
        self.module = torch.jit.load(io.BytesIO(Path(path).read_bytes()), _extra_files=extra)
        facts = json.loads(extra[IO])
        self.inputs = [TensorInfo.from_spec(s) for s in facts["inputs"]]
        self.outputs = [TensorInfo.from_spec(s) for s in facts["outputs"]]
        self.torch = torch

    def _infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self.torch.inference_mode():
            out = self.module(self.torch.from_numpy(np.ascontiguousarray(feeds["input"])))
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]
