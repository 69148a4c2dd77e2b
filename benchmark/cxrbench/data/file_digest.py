"""sha256 of a file's bytes: the one helper behind cache entry checksums, synthetic-set shards,
weights files and published prediction files. (A submission's own files are hashed by
`submissions/staging.py`, in the pass that copies them for the sandbox.)"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

_BLOCK = 1 << 20


def update_with_file(h: Any, path: str | Path) -> None:
    """Feed the bytes of `path` to the hash object `h`, a block at a time."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    update_with_file(h, path)
    return h.hexdigest()
