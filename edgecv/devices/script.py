"""The standalone device script: ``edgecv/portable`` packed into one zipapp, ``edgecv_device.pyz``.

A board runs it with ``python3 edgecv_device.pyz ...`` and needs only numpy and a runtime. The archive is
built from the package edgecv itself imports, so the two cannot drift, and it is byte-for-byte reproducible
(sorted entries, fixed timestamps): its digest names the copy pushed to a board, which is reused until
the code changes.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from functools import lru_cache
from pathlib import Path

from ..artifact import write_atomic
from ..cache import cache_dir

PORTABLE = Path(__file__).resolve().parent.parent / "portable"
SCRIPT_NAME = "edgecv_device.pyz"
PACKAGE = "edgecv_portable"  # the package's name inside the archive (no edgecv to clash with on a host)
MAIN = b"import sys\n\nfrom edgecv_portable.cli import main\n\nsys.exit(main())\n"


@lru_cache(maxsize=1)
def device_script() -> bytes:
    """The zipapp's bytes: a ``python3`` shebang, then a zip of the portable modules and ``__main__.py``."""
    buf = io.BytesIO()
    buf.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        entries = [(f"{PACKAGE}/{p.name}", p.read_bytes()) for p in sorted(PORTABLE.glob("*.py"))]
        for name, data in [("__main__.py", MAIN), *entries]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def script_digest() -> str:
    return hashlib.sha256(device_script()).hexdigest()[:16]


def write_device_script(path: Path) -> Path:
    """Write the zipapp to ``path`` (a folder, or a name without a suffix, gets ``edgecv_device.pyz``
    inside), executable."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / SCRIPT_NAME
    write_atomic(path, device_script())
    path.chmod(0o755)
    return path


def cached_device_script() -> Path:
    """The zipapp as a file in edgecv's cache, named by its digest (what qemu runs and SSH pushes). The name
    is not trusted: a cached file whose bytes differ from the zipapp built from this edgecv is rewritten, so a
    file edited in the cache is never pushed or run."""
    path = cache_dir("device-script") / f"edgecv_device-{script_digest()}.pyz"
    expected = device_script()
    try:
        same = path.is_file() and not path.is_symlink() and path.read_bytes() == expected
    except OSError:
        same = False
    if not same:
        write_atomic(path, expected)
    return path


__all__ = ["SCRIPT_NAME", "cached_device_script", "device_script", "script_digest", "write_device_script"]
