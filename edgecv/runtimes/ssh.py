"""A real board over SSH: push the artifact and the device script, run ``serve`` there, talk over the pipe.

Uses the system's OpenSSH client in batch mode: keys or an agent only (never a password on a command
line or a prompt), and ``StrictHostKeyChecking=yes`` so the board's host key must already be known
(``known_hosts`` in the profile, else the user's own). Files are named by content hash in the profile's
``workdir``, so a second run pushes nothing.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
from pathlib import Path

from ..devices import Device
from ..devices.script import cached_device_script, script_digest
from ..errors import EdgecvError, UsageError
from .remote import RemoteSession


def ssh_command(device: Device) -> list[str]:
    cfg = device.ssh
    if shutil.which("ssh") is None:
        raise EdgecvError("running on a board needs the OpenSSH client (ssh)")
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=15",
            "-p", str(cfg.get("port", 22))]
    if cfg.get("identity_file"):
        argv += ["-i", str(Path(cfg["identity_file"]).expanduser()), "-o", "IdentitiesOnly=yes"]
    if cfg.get("known_hosts"):
        argv += ["-o", f"UserKnownHostsFile={Path(cfg['known_hosts']).expanduser()}"]
    return [*argv, "--", str(cfg["host"])]  # after "--", the destination can never be read as an option


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _remote(device: Device, command: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([*ssh_command(device), command], input=stdin, capture_output=True, timeout=600)
    if out.returncode == 255:  # ssh's own failure: unreachable, host key, authentication
        lines = [ln for ln in out.stderr.decode(errors="replace").splitlines() if ln.strip()]
        raise EdgecvError(f"ssh to {device.ssh['host']} failed: {lines[-1] if lines else 'exit 255'}")
    return out


def push(device: Device, files: dict[Path, str]) -> None:
    """Copy each local file to its remote path unless a file of that (content-hashed) name is there."""
    workdir = device.ssh.get("workdir", "/tmp/edgecv")
    listing = _remote(device, f"mkdir -p {shlex.quote(workdir)} && ls -1 {shlex.quote(workdir)}")
    present = set(listing.stdout.decode(errors="replace").split())
    for local, remote in files.items():
        if Path(remote).name in present:
            continue
        tmp = f"{remote}.part"
        out = _remote(device, f"cat > {shlex.quote(tmp)} && mv {shlex.quote(tmp)} {shlex.quote(remote)}",
                      local.read_bytes())
        if out.returncode != 0:
            raise EdgecvError(f"could not copy {local.name} to {device.name}: {out.stderr.decode().strip()}")


def open_over_ssh(device: Device, path: Path, runtime: str, threads: int | None) -> RemoteSession:
    if not device.ssh.get("host"):
        raise UsageError(f"device {device.name} has no [ssh] host in {device.file}")
    workdir = device.ssh.get("workdir", "/tmp/edgecv")
    path = Path(path)
    script = f"{workdir}/edgecv_device-{script_digest()}.pyz"
    model = f"{workdir}/{_digest(path)}-{path.name}"
    files = {cached_device_script(): script, path: model}
    sidecar = path.with_name(path.name + ".json")
    if sidecar.is_file():
        files[sidecar] = model + ".json"
    push(device, files)
    command = [device.ssh.get("python", "python3"), script, "serve", model, "--runtime", runtime]
    if threads:
        command += ["--threads", str(threads)]
    return RemoteSession([*ssh_command(device), shlex.join(command)], None, f"{device.name} ({device.ssh['host']})")
