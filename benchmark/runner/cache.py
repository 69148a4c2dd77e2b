"""The runner's content-addressed cache: every stage's output under a hash of its inputs.

An entry is a directory that becomes visible only when complete: it is built in a temporary
sibling and renamed into place, so a crash or `kill -9` leaves either nothing or the whole
entry, and a rerun resumes from the entries that exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from cxrbench import __version__

DEFAULT_ROOT = ".cxrbench-cache"


def stable_hash(payload: Any) -> str:
    """sha256 of a JSON-serialisable payload with sorted keys (the cache key of a stage)."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@lru_cache(maxsize=None)
def code_digest(package: str) -> str:
    """sha256 (16 hex digits) over a package's Python files and shipped weights: cache keys of stages
    that run its code include it, so a new model, recipe or weight file never reuses old results."""
    import importlib

    root = Path(importlib.import_module(package).__file__).parent
    h = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.safetensors")]):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # work in progress (checkpoints), never shipped
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def default_root() -> Path:
    return Path(os.environ.get("CXRBENCH_CACHE", DEFAULT_ROOT)).resolve()


class Cache:
    """Stage outputs by (stage, key). `force=True` recomputes (and replaces) every entry it is asked for."""

    def __init__(self, root: str | Path | None = None, *, force: bool = False):
        self.root = Path(root).resolve() if root else default_root()
        self.force = force
        self._forced: set[Path] = set()
        self.root.mkdir(parents=True, exist_ok=True)

    def key(self, stage: str, payload: dict) -> str:
        return stable_hash({"stage": stage, "cxrbench": __version__, **payload})

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / key

    def has(self, stage: str, key: str) -> bool:
        path = self.path(stage, key)
        if self.force and path not in self._forced:
            return False
        return (path / "COMPLETE").is_file()

    @contextmanager
    def building(self, stage: str, key: str, meta: dict | None = None) -> Iterator[Path]:
        """Yield a scratch directory; on success it becomes the entry (with a COMPLETE marker)."""
        final = self.path(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir()
        try:
            yield tmp
            (tmp / "COMPLETE").write_text(json.dumps({"stage": stage, "key": key, **(meta or {})}, default=str))
            if final.exists():
                trash = final.parent / f".{key}.{uuid.uuid4().hex[:8]}.old"
                os.replace(final, trash)
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(tmp, final)
            self._forced.add(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def scratch(self, stage: str, key: str) -> Path:
        """A persistent work-in-progress folder for a stage that resumes piecewise (e.g. generation shards)."""
        path = self.root / stage / key[:2] / f".{key}.partial"
        if self.force and self.path(stage, key) not in self._forced and path.exists() and not getattr(self, "_cleared", {}).get(path):
            shutil.rmtree(path, ignore_errors=True)
            self.__dict__.setdefault("_cleared", {})[path] = True
        path.mkdir(parents=True, exist_ok=True)
        self.__dict__.setdefault("_scratches", set()).add(path)
        return path

    def discard_partials(self) -> list[Path]:
        """Remove the work-in-progress folders this Cache handed out that are still there.

        The runner calls it when a task fails with an error, so a failed run leaves no
        `.<key>.partial` folder behind; a run that is killed (or interrupted) keeps its finished
        shards, and the rerun resumes from them.
        """
        gone = []
        for path in sorted(self.__dict__.pop("_scratches", set())):
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
                gone.append(path)
        return gone
