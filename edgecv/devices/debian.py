"""Debian packages for the emulated board: the bookworm index (verified with ``gpgv`` against the archive
keyring when both are present), a dependency closure, and every package checked against the index's
SHA-256 before it is unpacked. Provisioning only; nothing here runs a model."""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import EdgecvError

MIRROR = os.environ.get("EDGECV_DEBIAN_MIRROR", "https://deb.debian.org/debian")
SUITE = "bookworm"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# packages a Python interpreter can do without (and whose maintainer scripts assume a real system)
SKIP = {"media-types", "mime-support", "tzdata", "debconf", "readline-common", "gcc-12-base", "libtirpc-common",
        "netbase", "libgssapi-krb5-2", "libkrb5-3", "libk5crypto3", "libkrb5support0", "libkeyutils1", "libcom-err2"}

Log = Callable[[str], None]


def get(url: str, label: str | None = None) -> bytes:
    """Download ``url``; with a ``label`` and a terminal on stderr, show a progress bar."""
    with urllib.request.urlopen(url, timeout=120) as response:
        if label is None or not sys.stderr.isatty():
            return response.read()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        total = int(response.headers.get("Content-Length") or 0) or None
        chunks = []
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(label, total=total)
            while chunk := response.read(1 << 20):
                chunks.append(chunk)
                bar.advance(task, len(chunk))
        return b"".join(chunks)


def debian_index(arch: str, log: Log) -> dict[str, dict[str, str]]:
    """``package -> stanza`` of bookworm main for ``arch``, verified through the signed InRelease."""
    release = get(f"{MIRROR}/dists/{SUITE}/InRelease")
    if shutil.which("gpgv") and KEYRING.is_file():
        with tempfile.NamedTemporaryFile(suffix=".InRelease") as f:
            f.write(release)
            f.flush()
            check = subprocess.run(["gpgv", "--keyring", str(KEYRING), f.name], capture_output=True)
        if check.returncode != 0:
            raise EdgecvError(f"Debian's InRelease from {MIRROR} failed its signature check")
    else:
        log("warning: gpgv or the Debian keyring is missing; Debian's index is trusted over HTTPS only")
    name = f"main/binary-{arch}/Packages.xz"
    match = re.search(rf"^ ([0-9a-f]{{64}})\s+\d+\s+{re.escape(name)}$", release.decode(), re.M)
    if not match:
        raise EdgecvError(f"{name} is not listed in Debian's InRelease")
    packed = get(f"{MIRROR}/dists/{SUITE}/{name}", f"Debian {SUITE} {arch} index")
    if hashlib.sha256(packed).hexdigest() != match.group(1):
        raise EdgecvError(f"{name} does not match its checksum in InRelease")
    index = {}
    for stanza in lzma.decompress(packed).decode().split("\n\n"):
        fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
        if "Package" in fields:
            index[fields["Package"]] = fields
    return index


def resolve(index: dict[str, dict[str, str]], roots: tuple[str, ...]) -> list[str]:
    """The closure of Depends/Pre-Depends (first alternative of each), minus packages a python never needs."""
    order, todo = [], list(roots)
    while todo:
        name = todo.pop(0)
        if name in order or name in SKIP:
            continue
        if name not in index:
            raise EdgecvError(f"Debian {SUITE} has no arm64 package {name}")
        order.append(name)
        for field in ("Pre-Depends", "Depends"):
            for clause in filter(None, (c.strip() for c in index[name].get(field, "").split(","))):
                todo.append(clause.split("|")[0].split()[0].split(":")[0])
    return order


def fetch_deb(entry: dict[str, str]) -> bytes:
    data = get(f"{MIRROR}/{entry['Filename']}", entry["Package"])
    if hashlib.sha256(data).hexdigest() != entry["SHA256"]:
        raise EdgecvError(f"{entry['Filename']} does not match its SHA-256 in Debian's index")
    return data


def deb_data(deb: bytes) -> tarfile.TarFile:
    """The ``data.tar.*`` member of a .deb (an ``ar`` archive) as an open tar file."""
    if not deb.startswith(b"!<arch>\n"):
        raise ValueError("not a Debian package")
    pos = 8
    while pos < len(deb):
        name = deb[pos:pos + 16].decode().strip().rstrip("/")
        size = int(deb[pos + 48:pos + 58].decode().strip())
        body = deb[pos + 60:pos + 60 + size]
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
        pos += 60 + size + (size & 1)
    raise ValueError("no data.tar in the package")


def extract_deb(deb: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with deb_data(deb) as tar:
        members = [m for m in tar.getmembers() if not m.name.startswith("./usr/share/doc")]
        tar.extractall(dest, members=members, filter="tar")


def merge_usr(rootfs: Path) -> None:
    """Debian's merged /usr: /lib and /bin point into /usr (the ELF interpreter is /lib/ld-linux-aarch64.so.1)."""
    for name in ("lib", "bin", "sbin"):
        top, usr = rootfs / name, rootfs / "usr" / name
        usr.mkdir(parents=True, exist_ok=True)
        if top.is_dir() and not top.is_symlink():
            for item in top.iterdir():
                target = usr / item.name
                if target.is_dir() and item.is_dir() and not item.is_symlink():
                    shutil.copytree(item, target, symlinks=True, dirs_exist_ok=True)
                    shutil.rmtree(item)
                elif not target.exists() and not target.is_symlink():
                    item.rename(target)
            shutil.rmtree(top)
        if not top.exists():
            top.symlink_to(f"usr/{name}")
