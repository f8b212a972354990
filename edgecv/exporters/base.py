"""What every exporter gets (an ``ExportJob``) and what it must do (the ``Exporter`` interface).

Per-format rules live in the format's own module; the flow around them (resolving the model, calibration
data, metadata, parity, the summary) lives in ``api.py`` and is the same for every format.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MissingDependencyError, UsageError

if TYPE_CHECKING:
    from torch import nn

@dataclass
class ExportJob:
    """One model to export. ``module`` takes an NCHW float32 batch and returns the outputs named in
    ``output_names`` (logits, or boxes and scores for detection)."""

    module: nn.Module
    name: str
    task: str
    imgsz: int
    channels: int
    batch: int | None  # None: dynamic batch
    layout: str  # input layout of the artifact, NCHW or NHWC
    output_names: list[str]
    calibration: np.ndarray | None = None  # [N, C, H, W] float32 preprocessed real images
    calib_method: str = "minmax"
    float_io: bool = True  # keep float32 inputs/outputs for fp16/int8 artifacts
    reduce_range: bool = False  # int8 ONNX: 7-bit weights, so x86 without VNNI computes what ARM computes
    keep_float: tuple[str, ...] = ()  # int8: layers left in float, named as `edgecv layers` names them
    int16: tuple[str, ...] = ()  # int8: layers given int16 activations (and int8 weights), named the same way
    float_ops: tuple[str, ...] = ()  # int8: op types run in float, int8 around them (HARD_SWISH, HardSwish, ...)
    cache: dict[str, Any] = field(default_factory=dict)  # per-format intermediate files (the fp32 graph)

    def sample(self) -> np.ndarray:
        return np.zeros((self.batch or 1, self.channels, self.imgsz, self.imgsz), np.float32)

    def calibration_batches(self):
        """Calibration images in the export batch size (1 for a dynamic batch), NCHW."""
        assert self.calibration is not None
        b = self.batch or 1
        for start in range(0, len(self.calibration) - b + 1, b):
            yield self.calibration[start:start + b]


def of_op_types(ops: list[tuple[str, str]], types: tuple[str, ...], name: str) -> list[str]:
    """The second item of each ``(op type, x)`` in ``ops`` whose type is in ``types`` (``--float-ops``); a type
    the graph does not have is refused, naming the types it has."""
    have = {op for op, _ in ops}
    missing = [t for t in types if t not in have]
    if missing:
        raise UsageError(f"--float-ops: {name} has no {', '.join(missing)} op (its ops: {', '.join(sorted(have))})")
    return [x for op, x in ops if op in types]


class Exporter(ABC):
    format: str = ""
    suffix: str = ""
    default_layout: str = "NCHW"
    layouts: tuple[str, ...] = ("NCHW",)
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8")
    calib_methods: tuple[str, ...] = ("minmax",)  # search order for --max-drop: cheapest first
    dynamic_batch: bool = True
    keeps_float: bool = False  # int8 can leave named layers in float (ExportJob.keep_float)
    widens: bool = False  # int8 can give named layers int16 activations (ExportJob.int16)
    extra: str = ""  # the edgecv extra that installs ``requires``
    requires: tuple[str, ...] = ()  # top-level modules the converter needs

    def check(self, job: ExportJob, precision: str) -> None:
        """Refuse an unsupported combination or a missing converter before any work is done."""
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            raise MissingDependencyError(f"{self.format} export needs {', '.join(missing)}; install it with: "
                                         f"pip install 'edgecv[{self.extra}]'")
        if precision not in self.precisions:
            raise UsageError(f"{self.format} export does not support {precision} "
                             f"(supported: {', '.join(self.precisions)})")
        if job.layout not in self.layouts:
            raise UsageError(f"{self.format} export does not support {job.layout} input (supported: "
                             f"{', '.join(self.layouts)})")
        if job.batch is None and not self.dynamic_batch:
            raise UsageError(f"{self.format} export does not support --dynamic-batch; pass --batch N")
        if job.keep_float and not self.keeps_float:
            raise UsageError(f"{self.format} export cannot keep layers in float (--keep-float)")
        if job.int16 and not self.widens:
            raise UsageError(f"{self.format} export cannot give layers int16 activations (--int16): its runtime's "
                             "int8 kernels have no int16 twins")
        if set(job.int16) & set(job.keep_float):
            raise UsageError(f"a layer is either in float or int16, not both: {sorted(set(job.int16) & set(job.keep_float))[0]}")
        if precision == "int8" and job.calib_method not in self.calib_methods:
            raise UsageError(f"{self.format} int8 calibrates with {', '.join(self.calib_methods)} only, "
                             f"not {job.calib_method}")

    @abstractmethod
    def convert(self, job: ExportJob, precision: str, workdir: Path) -> Path:
        """Write the model at ``precision`` into ``workdir`` and return its path."""

    @abstractmethod
    def embed_metadata(self, src: Path, text: str, dst: Path) -> None:
        """Copy ``src`` to ``dst`` (atomically) with the metadata JSON ``text`` stored inside."""

    @classmethod
    def owns(cls, path: Path) -> bool:
        """Whether a file with this format's suffix is one of its files (a folder scan asks; ``.xml`` is not
        always an OpenVINO IR)."""
        return True

    @classmethod
    def read_metadata_text(cls, path: Path) -> str | None:
        """The edgecv metadata JSON stored with a file of this format, or None (a file from another tool).
        The default reads the ``<file>.json`` sidecar; a format with a metadata table of its own reads that."""
        sidecar = path.with_name(path.name + ".json")
        return sidecar.read_text(encoding="utf-8") if sidecar.is_file() else None


def first_line(exc: BaseException) -> str:
    """A converter's exception as one line. Wrapping exceptions ("step 1/3 failed") say little, so this
    reports the innermost cause, whose message names the op or the line of model code that broke."""
    root = exc
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    text = [line.strip() for line in str(root).strip().splitlines() if line.strip()]
    return f"{type(root).__name__}: {text[0] if text else ''}"


@contextlib.contextmanager
def quiet():
    """Converters print progress, graphs and warnings -- from Python, and from native code straight to fd 2
    (absl's "InitializeLog", "flatbuffer_export.cc ... Estimated count", XNNPACK's banner); keep the CLI's
    output to edgecv's own lines. EDGECV_VERBOSE=1 lets the native lines through."""
    from ..portable.engines import quiet_native_stderr

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                quiet_native_stderr():
            yield
    finally:
        logging.disable(previous)
