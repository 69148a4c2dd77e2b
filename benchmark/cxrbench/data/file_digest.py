"""sha256 of a file's bytes: the one helper behind cache entry checksums, synthetic-set shards,
weights files, submission trees and published prediction files."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from cxrbench.errors import CxrbenchError, DataError

_BLOCK = 1 << 20


def update_with_file(h: Any, path: str | Path, *, regular_only: bool = False,
                     error: type[CxrbenchError] = DataError) -> None:
    """Feed the bytes of `path` to the hash object `h`, a block at a time.

    `regular_only`: open without following a link or blocking on a FIFO, and raise `error` unless
    what was opened is a regular file (a file that a hostile folder swaps while it is hashed)."""
    if not regular_only:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(_BLOCK), b""):
                h.update(block)
        return
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise error(f"{path}: changed into a non-regular file while being hashed")
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)


def file_sha256(path: str | Path, *, regular_only: bool = False, error: type[CxrbenchError] = DataError) -> str:
    """The hex sha256 of a file's bytes (see `update_with_file` for `regular_only`)."""
    h = hashlib.sha256()
    update_with_file(h, path, regular_only=regular_only, error=error)
    return h.hexdigest()
