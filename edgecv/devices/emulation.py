"""Raspberry Pi without a board: the real aarch64 builds of the runtimes under qemu-user.

edgecv provisions the environment itself, once, into its cache, from the package registries only:

* ``qemu-aarch64-static`` from Debian's ``qemu-user-static`` package (or the one on PATH);
* Debian bookworm's arm64 ``python3.11`` and the libraries it needs, unpacked into a folder (no root);
* the aarch64 wheels of onnxruntime, ai-edge-litert and numpy at the versions installed on the host, so
  host and "device" differ in CPU architecture only.

Debian's index is verified with ``gpgv`` against the archive keyring when both are present, and every
package against the index's SHA-256. Both runtimes detect the CPU through ``/proc/cpuinfo``, which under
qemu-user describes the x86 host and makes them crash; so each run happens in a private mount namespace
(``unshare``) with a Pi's cpuinfo, written from the device profile, bound over it. The CPU model comes
from the profile too (``-cpu cortex-a72`` for a Pi 4). Timings under emulation say nothing about a Pi.
"""

from __future__ import annotations

import fcntl
import json
import lzma
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..cache import cache_dir
from ..errors import EdgecvError, UsageError
from . import Device
from .debian import (
    SUITE,
    deb_data,
    debian_index,
    extract_deb,
    fetch_deb,
    merge_usr,
    resolve,
)
from .script import cached_device_script

PYTHON_ROOTS = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6")  # numpy/runtimes need libstdc++
RUNTIME_PACKAGES = ("numpy", "onnxruntime", "ai-edge-litert")
GLIBC = 36  # bookworm's glibc 2.36: aarch64 wheels tagged manylinux_2_17 .. manylinux_2_36 run here

Log = Callable[[str], None]


def _default_log(message: str) -> None:
    print(f"edgecv: {message}", file=sys.stderr, flush=True)


def host_versions() -> dict[str, str]:
    """The versions to mirror on the emulated device: the host's own, so only the architecture differs."""
    out = {}
    for name in RUNTIME_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    if "numpy" not in out:
        raise UsageError("numpy is missing on the host")
    return out


class Emulator:
    """One cached aarch64 environment (qemu + Debian python + wheels), keyed by the package versions."""

    def __init__(self, versions: dict[str, str] | None = None, root: Path | None = None) -> None:
        self.versions = versions or host_versions()
        key = "aarch64-cp311-" + "-".join(f"{k}{v}" for k, v in sorted(self.versions.items()))
        self.root = (root or cache_dir("emulation")) / key
        self.rootfs, self.site = self.root / "rootfs", self.root / "site"

    @property
    def qemu(self) -> Path:
        found = shutil.which("qemu-aarch64-static")
        return Path(found) if found else self.root.parent / "qemu" / "qemu-aarch64-static"

    @property
    def python(self) -> Path:
        return self.rootfs / "usr" / "bin" / "python3.11"

    def ready(self) -> bool:
        return (self.root / "ready.json").is_file() and self.qemu.is_file()

    def ensure(self, log: Log = _default_log) -> None:
        """Build the environment unless it is there; safe when several processes ask at once."""
        if platform.machine() not in ("x86_64", "AMD64"):
            raise UsageError(f"emulating a Pi is set up for x86_64 hosts; this is {platform.machine()}")
        if self.ready():
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with open(self.root.parent / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.ready():
                return
            log(f"setting up the emulated aarch64 environment in {self.root} (once; about 250 MB)")
            try:
                self._build(log)
            except (OSError, subprocess.CalledProcessError, tarfile.TarError, lzma.LZMAError, ValueError) as exc:
                raise EdgecvError(f"could not set up aarch64 emulation: {exc}") from None

    def _build(self, log: Log) -> None:
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=self.root.parent))
        try:
            if not self.qemu.is_file():
                self._fetch_qemu(log)
            index = debian_index("arm64", log)
            names = resolve(index, PYTHON_ROOTS)
            for k, name in enumerate(names, 1):
                log(f"[{k}/{len(names)}] {name} {index[name]['Version']} (arm64)")
                extract_deb(fetch_deb(index[name]), work / "rootfs")
            merge_usr(work / "rootfs")
            pins = [f"{k}=={v}" for k, v in sorted(self.versions.items())]
            log(f"aarch64 wheels: {', '.join(pins)}")
            platforms = [a for v in range(GLIBC, 16, -1) for a in ("--platform", f"manylinux_2_{v}_aarch64")]
            pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                  "--no-warn-conflicts", "--target", str(work / "site"), "--only-binary=:all:",
                                  "--python-version", "3.11", "--implementation", "cp", *platforms, *pins],
                                 capture_output=True, text=True)
            if pip.returncode != 0:
                errors = [ln for ln in pip.stderr.splitlines() if ln.startswith("ERROR")] or pip.stderr.splitlines()
                raise EdgecvError(f"pip could not fetch the aarch64 wheels: {errors[-1] if errors else 'failed'}")
            if self.root.exists():
                shutil.rmtree(self.root)
            work.rename(self.root)
            work = None
            modules = [{"ai-edge-litert": "ai_edge_litert.interpreter"}.get(k, k) for k in sorted(self.versions)]
            log(f"checking the environment: importing {', '.join(modules)} under qemu")
            probe = f"import platform, {', '.join(modules)}; print(platform.machine())"
            out = subprocess.run(self.command(_PROBE_DEVICE, ["-c", probe], script=False), capture_output=True,
                                 text=True, env=self.env(), timeout=600)
            if out.returncode != 0 or out.stdout.strip() != "aarch64":
                shutil.rmtree(self.root, ignore_errors=True)
                raise EdgecvError(f"the emulated python does not start: {(out.stderr or out.stdout).strip()[-300:]}")
            (self.root / "ready.json").write_text(json.dumps({"versions": self.versions, "debian": SUITE}))
        finally:
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)

    def _fetch_qemu(self, log: Log) -> None:
        arch = {"x86_64": "amd64", "AMD64": "amd64"}[platform.machine()]
        entry = debian_index(arch, log)["qemu-user-static"]
        log(f"qemu-user-static {entry['Version']} ({int(entry['Size']) / 1e6:.0f} MB)")
        data = fetch_deb(entry)
        target = self.qemu
        target.parent.mkdir(parents=True, exist_ok=True)
        with deb_data(data) as tar:
            member = tar.getmember("./usr/bin/qemu-aarch64-static")
            blob = tar.extractfile(member).read()
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(blob)
        tmp.chmod(0o755)
        tmp.rename(target)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "LD_"))}
        env.update(PYTHONPATH=str(self.site), PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1",
                   OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"))
        return env

    def command(self, device: Device, args: list[str], script: bool = True) -> list[str]:
        """argv that runs the emulated python (with the device script unless ``script=False``)."""
        cpuinfo = self.root.parent / f"cpuinfo-{device.name}"
        cpuinfo.write_text(fake_cpuinfo(device))
        qemu = [str(self.qemu), "-cpu", device.emulation.get("qemu_cpu", "cortex-a72"), "-L", str(self.rootfs),
                str(self.python), "-s", *([str(cached_device_script())] if script else []), *args]
        # A private mount namespace where the Pi's cpuinfo hides the host's; unprivileged users map to root.
        unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-Urm"]
        return [*unshare, "sh", "-c", 'mount --bind "$0" /proc/cpuinfo && exec "$@"', str(cpuinfo), *qemu]


def fake_cpuinfo(device: Device) -> str:
    e = device.emulation
    cores = []
    for k in range(device.cores or 4):
        cores.append(f"processor\t: {k}\nBogoMIPS\t: 108.00\nFeatures\t: {e.get('features', 'fp asimd')}\n"
                     f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: {e.get('cpu_variant', '0x0')}\n"
                     f"CPU part\t: {e.get('cpu_part', '0xd08')}\nCPU revision\t: {e.get('cpu_revision', 0)}\n")
    tail = f"Hardware\t: {e.get('hardware', 'BCM2835')}\nModel\t\t: {e.get('model', device.description)}\n"
    return "\n".join(cores) + "\n" + tail


_PROBE_DEVICE = Device(name="probe", cores=1, emulation={"qemu_cpu": "cortex-a72"})


