"""The cache's disk: what a failed write says, how much a plan will write, whether the cache is writable.

A full, read-only or failing cache is the storage's problem, not a bug: the job that hit it fails
with one line (where, how many bytes it needed, how many were free), its task gets a failed
record, and the other tasks go on.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from pathlib import Path

from cxrbench.errors import ConfigError

#: errno → what the storage did; these fail a job instead of the whole run
STORAGE_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                  errno.EROFS: "read-only file system", errno.EIO: "input/output error"}
#: numpy's messages (OSError without errno) when `tofile` cannot allocate a large file, or wrote less
_NUMPY_FULL = re.compile(r"Not enough free space to write (\d+) bytes|(\d+) requested and (\d+) written")


def free_bytes(path: Path) -> int | None:
    """Bytes free to this user on the filesystem holding `path` (its nearest existing folder)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def human(n: int | float | None) -> str:
    """Bytes as a person reads them (1.5 GB), decimal units as `df -H` shows them."""
    if n is None:
        return "unknown"
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"


def storage_failure(exc: BaseException, root: Path, needed: int | None = None) -> str | None:
    """One line for a write that failed because of the storage (full, quota, read-only, I/O error):
    the path, the bytes needed (the write's own size when known, else `needed`, the job's estimate)
    and the bytes free. None when `exc` is anything else (a bug, which is raised as it is)."""
    if not isinstance(exc, OSError):
        return None
    full = _NUMPY_FULL.search(str(exc))
    if exc.errno in STORAGE_ERRORS:
        what = STORAGE_ERRORS[exc.errno]
    elif full:
        needed = int(full.group(1) or full.group(2))
        short = full.group(3) is not None and (free_bytes(Path(exc.filename or root)) or 0) > 0
        what = "short write: the filesystem is full or over quota" if short else STORAGE_ERRORS[errno.ENOSPC]
    else:
        return None
    where = exc.filename or root
    need = f"needs about {human(needed)}" if needed else "needs more space"
    return f"cache write failed ({what}) at {where}: {need}, {human(free_bytes(Path(where)))} free"


def check_writable(root: Path) -> None:
    """ConfigError (one line) unless this process can create files in the cache root."""
    probe = Path(root) / f".cxrbench-write-probe.{uuid.uuid4().hex[:8]}"
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        what = STORAGE_ERRORS.get(exc.errno or 0, exc.strerror or str(exc))
        raise ConfigError(f"cache {root} cannot be written ({what}): every stage is stored there; pass --cache "
                          f"with a writable folder, or set CXRBENCH_CACHE") from None


def space_warning(root: Path, needed: int) -> str | None:
    """A warning when the cache's filesystem has less free space than a plan's estimate."""
    free = free_bytes(root)
    if free is None or free >= needed:
        return None
    return (f"the cache {root} has {human(free)} free, the plan's jobs write about {human(needed)}: jobs may fail "
            f"with a full cache (see `cxrbench cache du`; `cxrbench cache gc --keep-published` frees space)")


def directory_bytes(path: Path) -> int:
    """Bytes allocated to the files under `path` (sparse files count what they use on disk)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue
    return total
