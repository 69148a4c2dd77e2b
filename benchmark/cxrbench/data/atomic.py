"""Write a file so that readers see either the old file, the complete new one, or nothing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(fh)` on a temporary file beside `path`, fsync it, then `os.replace` it onto `path`.

    If `write` raises, the temporary file is removed and `path` is untouched: nothing
    half-written is ever visible under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the writer's pid is in the name, so a later write can tell a dead writer's leftover from a live one's
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; cache and fingerprint files are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    remove_stale_temp_files(path)
    return path


def remove_stale_temp_files(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of `path` that writers killed mid-write (kill -9, power loss) left.

    A temporary file `.<name>.<pid>.<random>.tmp` is stale when no process `<pid>` runs on this
    machine; one without a pid (written before names carried it) is stale too. Files of live
    writers, this process's included, are kept. Returns what was removed.
    """
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    try:
        names = [n for n in os.listdir(path.parent) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return removed
    for name in names:
        parts = name[len(prefix):-len(".tmp")].split(".")
        if len(parts) == 2 and parts[0].isdigit():
            pid = int(parts[0])
            if pid == os.getpid() or pid_running(pid):
                continue
        elif len(parts) != 1:  # another file's temporary (a name with more dots), not ours
            continue
        try:
            os.unlink(path.parent / name)
            removed.append(path.parent / name)
        except OSError:
            pass
    return removed


def pid_running(pid: int) -> bool:
    """Whether a process of this host with that pid exists (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """`atomic_write` for a bytes payload."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """`atomic_write` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every filesystem allows opening a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
