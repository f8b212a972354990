"""``serve``: a tiny framed protocol on stdin/stdout, so edgecv drives a board over SSH or under qemu.

    frame = <u32 header length> <JSON header> then, for each array, <u64 n> <n bytes of .npy>

Arrays travel as ``.npy`` with ``allow_pickle=False``: a frame is data, never code."""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np

from .engines import open_model
from .environment import environment
from .errors import DeviceError
from .shapes import synthetic_feeds
from .timing import time_calls


def write_frame(stream, header: dict, arrays: list | None = None) -> None:
    arrays = arrays or []
    blobs = []
    for a in arrays:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
        blobs.append(buf.getvalue())
    head = json.dumps({**header, "arrays_count": len(blobs)}).encode()
    stream.write(struct.pack("<I", len(head)) + head)
    for blob in blobs:
        stream.write(struct.pack("<Q", len(blob)) + blob)
    stream.flush()


def _read_exact(stream, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream) -> tuple[dict, list]:
    (n,) = struct.unpack("<I", _read_exact(stream, 4))
    header = json.loads(_read_exact(stream, n))
    arrays = []
    for _ in range(header.get("arrays_count", 0)):
        (size,) = struct.unpack("<Q", _read_exact(stream, 8))
        arrays.append(np.load(io.BytesIO(_read_exact(stream, size)), allow_pickle=False))
    return header, arrays


def serve(path: Path, runtime: str | None, threads: int | None) -> int:
    out = os.fdopen(os.dup(1), "wb")  # keep the protocol on the real stdout ...
    os.dup2(2, 1)  # ... and send anything a library prints to stderr
    stdin = sys.stdin.buffer
    try:
        t0 = time.perf_counter()
        model = open_model(path, runtime, threads)
        init_ms = (time.perf_counter() - t0) * 1e3
    except DeviceError as exc:
        write_frame(out, {"ok": False, "error": str(exc)})
        return 1
    write_frame(out, {"ok": True, "inputs": model.inputs, "outputs": model.outputs, "init_ms": init_ms,
                      "environment": environment(model)})
    while True:
        try:
            header, arrays = read_frame(stdin)
        except EOFError:
            return 0
        op = header.get("op")
        try:
            if op == "run":
                feeds = dict(zip(header["names"], arrays))
                t0 = time.perf_counter()
                outs = model.infer(feeds)
                infer_ms = (time.perf_counter() - t0) * 1e3
                write_frame(out, {"ok": True, "infer_ms": infer_ms}, outs)
            elif op == "bench":
                feeds = dict(zip(header["names"], arrays)) if arrays else synthetic_feeds(model)[0]
                times = time_calls(lambda: model.infer(feeds), int(header.get("warmup", 5)),  # noqa: B023
                                   int(header.get("iters", 20)), float(header.get("min_time_s", 0.0)))
                write_frame(out, {"ok": True, "latency_ms": times})
            elif op == "close":
                write_frame(out, {"ok": True})
                return 0
            else:
                write_frame(out, {"ok": False, "error": f"unknown request {op!r}"})
        except Exception as exc:  # report and keep serving: one bad request must not end the session
            write_frame(out, {"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"})
