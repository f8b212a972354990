"""Device profiles: where a model runs and what that machine is.

A profile is a small TOML file (``host.toml``, ``rpi4.toml``, ``rpi5.toml`` ship here; more are read from
``$EDGECV_DEVICES`` folders and ``~/.config/edgecv/devices``; any ``.toml`` path works too). It states the
CPU, cores, clock, ISA features and memory, and how to reach the device:

* ``host`` -- this machine, with its facts read from the OS;
* a profile whose ``[ssh] host`` is set -- a real board over SSH;
* otherwise a profile with ``[emulation]`` -- the board's real aarch64 runtimes under qemu-user with its
  CPU model. Timings from emulation are not the board's latency.

This package describes machines and provisions them (``emulation.py`` and ``debian.py`` build the emulated
board, ``script.py`` packs the standalone device script); it never opens a session. Sessions are the
runtimes' job, and ``edgecv.runtimes.placement`` joins the two.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

HERE = Path(__file__).parent


@dataclass
class Device:
    name: str
    description: str = ""
    arch: str = ""
    cpu: str = ""
    cores: int | None = None
    clock_ghz: float | None = None
    isa: list[str] = field(default_factory=list)
    memory_gb: float | None = None
    peak_gmacs: dict[str, float] = field(default_factory=dict)  # known peak MAC rates by precision, if any
    emulation: dict[str, Any] = field(default_factory=dict)
    ssh: dict[str, Any] = field(default_factory=dict)
    local: bool = False  # this machine is the device (a board that is itself a Ray worker): run here, not over ssh
    file: str = ""

    @property
    def is_local(self) -> bool:
        return self.name == "host" or self.local is True

    @property
    def reach(self) -> str:
        """How edgecv runs models there: local, ssh or emulated (or unreachable)."""
        if self.is_local:
            return "local"
        if self.ssh.get("host"):
            return "ssh"
        return "emulated" if self.emulation else "unreachable"

    @property
    def emulated(self) -> bool:
        return self.reach == "emulated"

    @property
    def int8_saturates(self) -> bool:
        """Whether onnxruntime's int8 (u8s8) kernels here can saturate, so int8 ONNX outputs may differ from a
        board's. Without VNNI, x86 adds pairs of uint8 x int8 products in 16 bits (AVX2 ``vpmaddubsw``), which
        saturates for large activations and weights; VNNI (``vpdpbusd``), AMX and ARM accumulate in 32 bits."""
        x86 = self.arch.lower() in ("x86_64", "amd64", "x86", "i686")
        return x86 and not {"avx512-vnni", "avx-vnni", "amx-int8"} & set(self.isa)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if v not in (None, "", [], {})}
        d["reach"], d["emulated"] = self.reach, self.emulated
        return d


def _search_path() -> list[Path]:
    extra = [Path(p).expanduser() for p in os.environ.get("EDGECV_DEVICES", "").split(os.pathsep) if p]
    return [*extra, Path.home() / ".config" / "edgecv" / "devices", HERE]


def _load(path: Path) -> Device:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read device profile {path}: {exc}") from None
    known = {f for f in Device.__dataclass_fields__ if f != "file"}
    unknown = set(data) - known - {"detect"}
    if unknown:
        raise UsageError(f"{path}: unknown device profile keys {', '.join(sorted(unknown))}")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise UsageError(f"{path}: a device profile needs a name")
    detect = data.pop("detect", False)
    if data.get("ssh") is not None:
        data["ssh"] = _checked_ssh(data["ssh"], path)
    device = Device(**data, file=str(path))
    if detect:
        _detect_host(device)
    return device


SSH_KEYS = {"host": str, "port": int, "identity_file": str, "known_hosts": str, "python": str, "workdir": str}
# user@host, host, an IPv4 or IPv6 address; never anything ssh could read as an option
_SSH_HOST = re.compile(r"([A-Za-z0-9._][A-Za-z0-9._+-]*@)?([A-Za-z0-9_][A-Za-z0-9._-]*|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)")


def _checked_ssh(ssh: Any, path: Path) -> dict[str, Any]:
    """A profile's ``[ssh]`` table, refused unless every value is what it claims to be: the host reaches ssh as
    its destination only (``host = "-oProxyCommand=..."`` must never become an option)."""
    if not isinstance(ssh, dict):
        raise UsageError(f"{path}: [ssh] must be a table")
    for key, value in ssh.items():
        kind = SSH_KEYS.get(key)
        if kind is None:
            raise UsageError(f"{path}: unknown [ssh] key {key!r} (keys: {', '.join(SSH_KEYS)})")
        if not isinstance(value, kind) or isinstance(value, bool) or (
                isinstance(value, str) and any(c in value for c in "\0\n\r")):
            raise UsageError(f"{path}: [ssh] {key} must be a {kind.__name__} on one line")
    host = ssh.get("host", "")
    if host and not _SSH_HOST.fullmatch(host):
        raise UsageError(f"{path}: [ssh] host {host[:80]!r} is not user@hostname or a hostname")
    port = ssh.get("port", 22)
    if not 1 <= port <= 65535:
        raise UsageError(f"{path}: [ssh] port must be 1-65535, not {port}")
    return ssh


def list_devices() -> list[Device]:
    """Every profile found, the first of each name winning (user folders before the built-ins)."""
    found: dict[str, Device] = {}
    for folder in _search_path():
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            device = _load(path)
            found.setdefault(device.name, device)
    return list(found.values())


def get_device(spec: Any = None) -> Device:
    """``None``/``"host"``, a profile name, a ``.toml`` path, or a ``Device``."""
    if isinstance(spec, Device):
        return spec
    spec = str(spec or "host")
    if spec.endswith(".toml"):
        if not Path(spec).is_file():
            raise UsageError(f"device profile not found: {spec}")
        return _load(Path(spec))
    for device in list_devices():
        if device.name == spec:
            return device
    raise UsageError(f"unknown device {spec!r} (devices: {', '.join(d.name for d in list_devices())}; "
                     "or pass a profile .toml)")


def _detect_host(device: Device) -> None:
    """Fill a host profile from /proc (Linux) or the platform module."""
    device.arch = device.arch or platform.machine()
    device.cores = device.cores or os.cpu_count()
    from ..portable.environment import cpuinfo

    info = cpuinfo()
    device.cpu = device.cpu or info.get("model name") or platform.processor() or device.arch
    flags = set((info.get("flags") or info.get("features") or "").split())
    names = {"avx2": "avx2", "fma": "fma", "avx512f": "avx512f", "avx512_vnni": "avx512-vnni",
             "avx_vnni": "avx-vnni", "avx512_bf16": "avx512-bf16", "amx_int8": "amx-int8", "amx_bf16": "amx-bf16", "f16c": "f16c",
             "asimd": "neon", "asimddp": "dotprod", "asimdhp": "fp16", "i8mm": "i8mm", "sve": "sve"}
    device.isa = device.isa or [nice for flag, nice in names.items() if flag in flags]
    if device.clock_ghz is None and info.get("cpu mhz"):
        device.clock_ghz = round(float(info["cpu mhz"]) / 1000, 2)
    if device.memory_gb is None:
        device.memory_gb = _memory_gb()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


__all__ = ["Device", "get_device", "list_devices"]
