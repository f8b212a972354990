"""A real board over SSH: push the artifact and the device script, run ``serve`` there, talk over the pipe.

Uses the system's OpenSSH client in batch mode: keys or an agent only (never a password on a command
line or a prompt), and ``StrictHostKeyChecking=yes`` so the board's host key must already be known
(``known_hosts`` in the profile, else the user's own).

The board's ``workdir`` is trusted only once checked there: a directory of the login user's own, not group- or
world-writable (made with mode 700 when missing), so no other account on the board can plant or swap a file in
it. Every file edgecv runs there -- the device script, the model, its sidecar -- is hashed on the board (the
device Python's hashlib) before it is used: one that is missing or differs from the local bytes is pushed again,
and checked again after the push. A name alone is never trusted.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

from ..devices import Device
from ..devices.script import cached_device_script, script_digest
from ..errors import EdgecvError, UsageError
from ..model_files import companion_files, file_digest
from .remote import RemoteSession

DEFAULT_WORKDIR = "~/.cache/edgecv-device"  # the login user's home: private by default, unlike /tmp

# Runs on the board as ``python3 - WORKDIR NAME SHA256 ...`` (program on stdin): makes or checks the private
# workdir and says which of the named files hold exactly the expected bytes. Python 3.6+ and stdlib only.
_CHECK = r"""
import hashlib, json, os, stat, sys
def out(**kw):
    sys.stdout.write(json.dumps(kw)); sys.exit(0)
wd = os.path.abspath(os.path.expanduser(sys.argv[1]))
try:
    os.makedirs(wd, mode=0o700)
except FileExistsError:
    pass
except OSError as e:
    out(error="cannot create %s: %s" % (wd, e.strerror))
st = os.lstat(wd)
if not stat.S_ISDIR(st.st_mode):
    out(error="%s is not a directory (a symlink or a file is never used)" % wd)
if st.st_uid != os.getuid():
    out(error="%s belongs to another user (uid %d); edgecv uses only a workdir of its own" % (wd, st.st_uid))
if st.st_mode & 0o022:
    out(error="%s is group- or world-writable (mode %o); make it private (chmod 700) or choose another workdir"
        % (wd, st.st_mode & 0o777))
good = []
args = sys.argv[2:]
for name, digest in zip(args[::2], args[1::2]):
    p = os.path.join(wd, name)
    try:
        s = os.lstat(p)
        if not stat.S_ISREG(s.st_mode) or s.st_uid != os.getuid():
            continue
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() == digest:
            good.append(name)
    except OSError:
        pass
out(workdir=wd, good=good)
"""


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


def _remote(device: Device, command: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([*ssh_command(device), command], input=stdin, capture_output=True, timeout=600)
    if out.returncode == 255:  # ssh's own failure: unreachable, host key, authentication
        lines = [ln for ln in out.stderr.decode(errors="replace").splitlines() if ln.strip()]
        raise EdgecvError(f"ssh to {device.ssh['host']} failed: {lines[-1] if lines else 'exit 255'}")
    return out


def _check(device: Device, expected: dict[str, str]) -> tuple[str, set[str]]:
    """(the workdir's absolute path on the board, the names whose bytes there hash to what is expected)."""
    python = device.ssh.get("python", "python3")
    args = [device.ssh.get("workdir") or DEFAULT_WORKDIR]
    for name, digest in expected.items():
        args += [name, digest]
    out = _remote(device, shlex.join([python, "-", *args]), _CHECK.encode())
    try:
        reply = json.loads(out.stdout.decode(errors="replace"))
    except ValueError:
        tail = out.stderr.decode(errors="replace").strip().splitlines()
        raise EdgecvError(f"{device.name}: could not check the workdir with {python} "
                          f"({tail[-1] if tail else f'exit {out.returncode}'})") from None
    if "error" in reply:
        raise EdgecvError(f"{device.name}: {reply['error']}")
    return str(reply["workdir"]), set(reply.get("good", []))


def push(device: Device, files: dict[Path, str]) -> str:
    """Make sure the board's private workdir holds each local file under its name (``files``: local path ->
    name in the workdir), byte for byte: anything missing or different is pushed, then every file is hashed on
    the board once more. Returns the workdir's absolute path there."""
    expected = {name: file_digest(local) for local, name in files.items()}
    workdir, good = _check(device, expected)
    stale = [(local, name) for local, name in files.items() if name not in good]
    for local, name in stale:
        remote = f"{workdir}/{name}"
        tmp = f"{remote}.part"
        out = _remote(device, f"umask 077 && cat > {shlex.quote(tmp)} && mv -f {shlex.quote(tmp)} {shlex.quote(remote)}",
                      local.read_bytes())
        if out.returncode != 0:
            raise EdgecvError(f"could not copy {local.name} to {device.name}: "
                              f"{out.stderr.decode(errors='replace').strip()}")
    if stale:
        _, good = _check(device, expected)
        bad = sorted(set(expected) - good)
        if bad:
            raise EdgecvError(f"{device.name}: {', '.join(bad)} in {workdir} differ from what was pushed; "
                              "not running them")
    return workdir


def open_over_ssh(device: Device, path: Path, runtime: str, threads: int | None) -> RemoteSession:
    if not device.ssh.get("host"):
        raise UsageError(f"device {device.name} has no [ssh] host in {device.file}")
    path = Path(path)
    script = f"edgecv_device-{script_digest()}.pyz"
    model = f"{file_digest(path)[:16]}-{path.name}"
    files = {cached_device_script(): script, path: model}
    sidecar = path.with_name(path.name + ".json")
    if sidecar.is_file():
        files[sidecar] = model + ".json"
    for weights in companion_files(path) if path.suffix == ".xml" else ():  # an IR's .bin, named as it looks for it
        files[weights] = model[:-len(".xml")] + ".bin"
    workdir = push(device, files)
    command = [device.ssh.get("python", "python3"), f"{workdir}/{script}", "serve", f"{workdir}/{model}",
               "--runtime", runtime]
    if threads:
        command += ["--threads", str(threads)]
    return RemoteSession([*ssh_command(device), shlex.join(command)], None, f"{device.name} ({device.ssh['host']})")
