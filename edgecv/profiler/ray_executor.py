"""``edgecv profile --executor ray``: each cell a Ray task, on whichever node of the cluster can run it.

- **What a cell asks for.** A host cell asks for the CPUs it times with (``--threads``), so two cells never
  share a node's cores; a cell for device NAME asks for one unit of the custom resource ``device:NAME``, which
  a node advertises when it can run that device (``ray start ... --resources '{"device:rpi5": 1}'`` on a Pi 5,
  or on a host with the board attached over SSH), so two cells never time one board at once.
- **What it carries.** The exports are made once, where the profile was started. Each distinct file goes into
  Ray's object store once, by content hash, and a worker writes it to a private temporary folder of its own
  (``mkdtemp``: mode 700, a new name each time) after checking the bytes against the hash, and removes it when
  the cell ends: no node needs a shared disk, and nothing another user put in ``/tmp`` is ever measured.
  Zoo names (the PyTorch rows) travel as names.
- **Isolation.** On the worker the cell runs through ``cell.run_isolated`` exactly as a local cell does: in a
  fresh process, with the profile's timeout, a crash or a hang failing that row only.
- **Faults.** A node or worker that dies mid-cell has the cell retried once elsewhere (Ray's ``max_retries``);
  a second loss fails the row with the reason. A cell that no live node can run (no node offers its device,
  none has its CPUs, or the one that did has gone) fails at once instead of waiting forever. Rows come back
  as they finish, and the caller saves each at once: Ctrl-C or a lost head loses no finished row.
- **Same software.** A node running another edgecv version fails its rows, saying so: a row's numbers must
  come from the code the report names.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import resources
from .._optional import import_optional
from .._version import __version__
from ..errors import EdgecvError
from ..exporters.base import first_line
from ..model_files import beside
from .cell import empty_row
from .matrix import Cell, file_digest
from .row import Row

RETRIES = 1  # a cell whose node dies is retried once elsewhere
POLL_S = 5.0  # how often waiting cells are checked against the live nodes


def device_resource(device: str) -> str:
    """The Ray custom resource a node advertises to run ``device`` (a profile name or a .toml path)."""
    from ..devices import get_device

    return f"device:{get_device(device).name}"


def demand(cell: Cell, threads: int) -> dict[str, float]:
    """What ``cell`` asks of a node: ``{"CPU": threads}`` on the host, ``{"device:NAME": 1}`` for a device."""
    return {"CPU": float(threads)} if cell.device == "host" else {device_resource(cell.device): 1.0}


def live_nodes(ray) -> list[dict[str, Any]]:
    """``[{"hostname", "node_id", "resources"}]`` of the cluster's live nodes."""
    return [{"hostname": n.get("NodeManagerHostname", "?"), "node_id": n["NodeID"], "resources": n.get("Resources", {})}
            for n in ray.nodes() if n.get("Alive")]


def fits(wanted: dict[str, float], nodes: list[dict[str, Any]]) -> bool:
    return any(all(node["resources"].get(k, 0.0) >= v for k, v in wanted.items()) for node in nodes)


def unmet(wanted: dict[str, float]) -> str:
    """Why no node can run a cell asking for ``wanted``, and how to make one that can."""
    if "CPU" in wanted:
        return (f"no live node of the Ray cluster has {wanted['CPU']:.0f} CPUs for its --threads "
                f"(use fewer --threads, or add a bigger node)")
    (name,) = wanted
    return (f"no live node of the Ray cluster offers {name} (start one with ray start --address HEAD "
            f"--resources '{{\"{name}\": 1}}')")


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None, log: Callable[[str], None]) -> None:
        self.ray = import_optional("ray", "ray")
        self.log = log
        self.started = False
        if not self.ray.is_initialized():
            _reachable_or_fail(address or os.environ.get("RAY_ADDRESS"))  # seconds, not Ray's minutes of retries
            try:
                self.ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR,
                              log_to_driver=False, configure_logging=False)
            except Exception as exc:  # ConnectionError, a bad address, a version mismatch: one line
                where = address or os.environ.get("RAY_ADDRESS") or "this machine"
                raise EdgecvError(f"cannot start or reach a Ray cluster at {where}: {first_line(exc)}") from None
            self.started = True
        self.remote = self.ray.remote(_measure_on_node)

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.ray.shutdown()

    def run(self, cells: list[Cell], settings: dict[str, Any], timeout_s: float) -> Iterator[tuple[Cell, Row]]:
        ray = self.ray
        nodes = live_nodes(ray)
        self.log(f"ray: {len(nodes)} live node(s), {len(cells)} cell(s) to measure")
        shipped: dict[str, tuple[str, Any, Any]] = {}  # file path -> (digest, object ref, sidecar ref)
        pending: dict[Any, tuple[Cell, dict[str, float]]] = {}
        for cell in cells:
            wanted = demand(cell, settings["threads"] or resources.cores())
            if not fits(wanted, nodes):
                yield cell, _failed(cell, unmet(wanted))
                continue
            digest, blob, side = self._ship(cell.target, shipped)
            ref = self.remote.options(num_cpus=wanted.get("CPU", 0.0),
                                      resources={k: v for k, v in wanted.items() if k != "CPU"} or None,
                                      max_retries=RETRIES, retry_exceptions=False).remote(
                cell.to_dict(), settings, timeout_s, __version__, Path(cell.target).name, digest, blob, side)
            pending[ref] = (cell, wanted)
        try:
            while pending:
                try:
                    done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                except Exception as exc:  # the head or the connection to it is gone: the saved rows stay
                    raise EdgecvError(f"lost the Ray cluster with {len(pending)} cell(s) unmeasured ({type(exc).__name__}); "
                                      "the finished rows are saved: rerun the same command to measure the rest") from None
                if not done:
                    self._head_alive(len(pending))
                    yield from self._drop_unrunnable(pending)
                    continue
                cell, _ = pending.pop(done[0])
                yield cell, self._collect(done[0], cell)
        finally:  # Ctrl-C, or the caller stopped: nothing left running on the cluster
            for ref in pending:
                ray.cancel(ref, force=True)

    def _ship(self, target: str, shipped: dict[str, tuple[str, Any, Any]]) -> tuple[str | None, Any, Any]:
        """Put a file target (and the files that travel with it: ``model_files.beside``) into the object store
        once; a zoo name travels as is."""
        path = Path(target)
        if not path.is_file():
            return None, None, None
        if target not in shipped:
            extras = [(p.name, p.read_bytes()) for p in beside(path)]
            shipped[target] = (file_digest(path), self.ray.put(path.read_bytes()),
                               self.ray.put([(n, hashlib.sha256(b).hexdigest(), b) for n, b in extras]) if extras else None)
        return shipped[target]

    def _collect(self, ref: Any, cell: Cell) -> Row:
        try:
            data, node = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:  # the task itself raised (not retried: it would again)
            return _failed(cell, f"the cell's Ray task failed: {first_line(getattr(exc, 'cause', None) or exc)[:200]}")
        except self.ray.exceptions.RayError as exc:  # the node or worker died twice, or the object was lost
            return _failed(cell, f"lost on the Ray cluster after {RETRIES} retry ({first_line(exc)[:200]})")
        row = Row.from_dict(data)
        row.node, row.target = node, cell.target  # the driver's path, not the worker's copy
        return row

    def _head_alive(self, unmeasured: int) -> None:
        """Fail in one line, well before Ray's own 60 s give-up (which ends the process without a word), when the
        head's control service stops taking connections twice in a row."""
        gcs = getattr(self.ray.get_runtime_context(), "gcs_address", None)
        if not gcs or _connects(gcs):
            self._misses = 0
            return
        self._misses = getattr(self, "_misses", 0) + 1
        if self._misses >= 2:
            raise EdgecvError(f"lost the Ray cluster's head ({gcs} stopped answering) with {unmeasured} cell(s) "
                              "unmeasured; the finished rows are saved: rerun the same command to measure the rest")

    def _drop_unrunnable(self, pending: dict[Any, tuple[Cell, dict[str, float]]]) -> Iterator[tuple[Cell, Row]]:
        """Cells no live node can run any more (their node left): failed now rather than waiting forever."""
        nodes = live_nodes(self.ray)
        for ref, (cell, wanted) in list(pending.items()):
            if not fits(wanted, nodes):
                self.ray.cancel(ref, force=True)
                del pending[ref]
                yield cell, _failed(cell, unmet(wanted))


def _failed(cell: Cell, reason: str) -> Row:
    row = empty_row(cell.to_dict())
    row.error = reason
    return row


def _measure_on_node(cell: dict[str, Any], settings: dict[str, Any], timeout_s: float, version: str, name: str,
                     digest: str | None, blob: bytes | None, side: bytes | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Ray task: write the shipped file here (once per digest), measure the cell in its own process."""
    import ray

    from .cell import run_isolated

    node = {"hostname": socket.gethostname(), "ray_node_id": ray.get_runtime_context().get_node_id()}
    if version != __version__:
        row = empty_row(cell)
        row.error = f"node {node['hostname']} runs edgecv {__version__}, the profile {version}: install one version everywhere"
        return row.to_dict(), node
    folder = None
    try:
        if blob is not None and digest:
            folder = Path(tempfile.mkdtemp(prefix="edgecv-ray-"))
            cell = {**cell, "target": str(_materialize(folder, digest, name, blob, side))}
        start = time.perf_counter()
        row = run_isolated(cell, settings, timeout_s)
        row.extra["ray_task_s"] = round(time.perf_counter() - start, 3)
    except EdgecvError as exc:
        row = empty_row(cell)
        row.error = str(exc)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return row.to_dict(), node


def _materialize(folder: Path, digest: str, name: str, blob: bytes, extras: list | None) -> Path:
    """The shipped file (and what travels with it) in ``folder`` (private to this task), once every file's
    bytes are the ones the driver hashed."""
    files = [(Path(name).name, digest, blob), *((Path(n).name, d, b) for n, d, b in extras or [])]
    for fname, want, data in files:
        if hashlib.sha256(data).hexdigest() != want:
            raise EdgecvError(f"{fname} arrived on this node with other bytes than the driver sent (sha256 mismatch)")
    for fname, _, data in files:
        fd = os.open(folder / fname, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return folder / Path(name).name


def _connects(address: str, timeout_s: float = 3.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def _reachable_or_fail(address: str | None) -> None:
    """A ``host:port`` cluster address that takes no TCP connection is said at once (Ray itself retries for
    minutes, then prints a traceback). ``auto``, ``ray://`` client addresses and no address are left to Ray."""
    if not address or address == "auto" or "://" in address or ":" not in address:
        return
    if not _connects(address, timeout_s=5.0):
        raise EdgecvError(f"cannot reach a Ray cluster at {address}: nothing accepts connections there (is the "
                          "head started with ray start --head, and is the port open?)")


def cluster_nodes(address: str | None) -> list[dict[str, Any]]:
    """``edgecv devices --ray-address``: each live node, its CPUs and the devices it offers."""
    executor = RayExecutor(address, lambda _m: None)
    try:
        return [{"hostname": n["hostname"], "ray_node_id": n["node_id"], "cpus": n["resources"].get("CPU", 0),
                 "devices": sorted(k.split(":", 1)[1] for k in n["resources"] if k.startswith("device:"))}
                for n in live_nodes(executor.ray)]
    finally:
        executor.__exit__()


__all__ = ["RayExecutor", "cluster_nodes", "demand", "device_resource"]
