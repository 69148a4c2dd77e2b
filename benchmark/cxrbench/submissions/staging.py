"""What runs is what was hashed: a submission's hash, and the copy of its files the sandbox mounts.

`submission_files` (manifest.py) says what a submission is: every file and in-folder link, but not
`__pycache__` folders or hidden top-level entries. `hash_files` reads each of those files once,
feeding the submission's content hash and, in the same pass, writing the copy that the sandbox
mounts (`stage`): the bytes hashed are the bytes written, so a stale `.pyc`, a hidden answers file
or a file changed after hashing never reaches submission code.

A sparse file is copied sparse: its holes are neither read nor written (they are hashed as the
zeros they are), so its copy costs the disk it really occupies.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

from cxrbench.errors import SubmissionError, printable

_BLOCK = 1 << 20
_ZEROS = bytes(_BLOCK)


@dataclass
class StagedCopy:
    """A folder holding exactly a submission's hashed files (read-only), removed with this object."""

    root: Path

    def __post_init__(self) -> None:
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.root.parent), True)

    def __getstate__(self) -> dict:  # a copy sent to another process never removes the folder
        return {"root": self.root}

    def __setstate__(self, state: dict) -> None:
        self.root = state["root"]


def new_staging_folder() -> Path:
    """An empty folder for one staged copy, under the temporary directory (never inside the cache)."""
    return Path(tempfile.mkdtemp(prefix="cxrbench-submission-")) / "files"


def hash_files(root: Path, files, h, *, copy_to: Path | None = None,
               digests_of: tuple[str, ...] = ()) -> dict[str, str]:
    """Feed a submission's files to the hash `h` (each relative path, then its bytes or its link's
    target), copying them under `copy_to` in the same pass when given.

    Returns the sha256 of each file named in `digests_of` (declared weights), from the same read."""
    import hashlib

    wanted, out = set(digests_of), {}
    for rel, kind, target in files:
        h.update(os.fsencode(rel) + b"\0")
        if kind == "link":
            h.update(b"->" + os.fsencode(target))
            if copy_to is not None:
                _copy_link(root, rel, copy_to)
        else:
            own = hashlib.sha256() if rel.as_posix() in wanted else None
            _read_file(root / rel, [h] + ([own] if own else []), None if copy_to is None else copy_to / rel)
            if own is not None:
                out[rel.as_posix()] = own.hexdigest()
        h.update(b"\0")
    return out


def _read_file(path: Path, hashes: list, copy: Path | None) -> None:
    """Hash one regular file (opened without following a link or blocking), writing it to `copy`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise SubmissionError(f"{printable(path)}: cannot be read ({exc.strerror})") from None
    out = -1
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SubmissionError(f"{printable(path)}: changed into a non-regular file while being hashed")
        if copy is not None:
            copy.parent.mkdir(parents=True, exist_ok=True)
            out = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        end = _copy_extents(fd, out, hashes)
        if out >= 0:
            os.ftruncate(out, end)  # a trailing hole stays a hole
            os.fchmod(out, 0o555 if st.st_mode & 0o111 else 0o444)
    finally:
        os.close(fd)
        if out >= 0:
            os.close(out)


def _copy_extents(fd: int, out: int, hashes: list) -> int:
    """Hash (and copy to `out`) the file's data extents, and its holes as zeros; returns its length."""
    pos = 0
    while True:
        data = _seek(fd, pos, os.SEEK_DATA)
        if data is None:  # only a hole (or nothing) is left: its length is the file's
            data = os.fstat(fd).st_size
        _hash_zeros(hashes, data - pos)
        pos = data
        hole = _seek(fd, pos, os.SEEK_HOLE)
        if hole is None:
            return pos
        while pos < hole:
            block = os.pread(fd, min(_BLOCK, hole - pos), pos)
            if not block:  # shrank while read: what was read is what is hashed and copied
                return pos
            for h in hashes:
                h.update(block)
            if out >= 0:
                os.pwrite(out, block, pos)
            pos += len(block)


def _seek(fd: int, pos: int, whence: int) -> int | None:
    try:
        return os.lseek(fd, pos, whence)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no data (or no hole) at or after pos: past the end
            return None
        raise


def _hash_zeros(hashes: list, n: int) -> None:
    while n > 0:
        chunk = _ZEROS if n >= _BLOCK else _ZEROS[:n]
        for h in hashes:
            h.update(chunk)
        n -= len(chunk)


def _copy_link(root: Path, rel: Path, copy_to: Path) -> None:
    """The link, re-made relative inside the copy (it resolves to the same hashed file, or nowhere)."""
    link = copy_to / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    target = Path(os.path.realpath(root / rel)).relative_to(root)
    os.symlink(os.path.relpath(copy_to / target, link.parent), link)
