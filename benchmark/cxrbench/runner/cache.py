"""The runner's content-addressed cache: every stage's output under a hash of its inputs.

An entry is a directory that becomes visible only when complete: it is built in a temporary
sibling and renamed into place, so a crash or `kill -9` leaves either nothing or the whole
entry, and a rerun resumes from the entries that exist.

Each entry carries `CHECKSUMS.json` (size and sha256 of every file, written with the entry) and
is verified the first time a process uses it: a corrupt, truncated, extended or altered entry
is reported with its path, moved aside and rebuilt, never used. The checksums catch decay and
tampering by anything that cannot rewrite the manifest too; submission code never sees the
cache at all (it runs under bubblewrap, `cxrbench.submissions.bwrap`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from cxrbench.cache_location import default_cache_root
from cxrbench.data.file_digest import file_sha256
from cxrbench.errors import ConfigError, CxrbenchError
from cxrbench.version import __version__

CHECKSUMS = "CHECKSUMS.json"
MARKER = "COMPLETE"


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
    files = {path.relative_to(root).as_posix(): path for path in [*root.rglob("*.py"), *root.rglob("*.safetensors")]}
    return tree_digest(files, lambda rel: files[rel].read_bytes())


def tree_digest(paths: Iterable[str], read: Callable[[str], bytes]) -> str:
    """What `code_digest` hashes, for any tree: its `.py` and `.safetensors` files by relative POSIX
    path (`read(path)` gives the bytes), in path-component order; dot folders are skipped."""
    h = hashlib.sha256()
    chosen = [p for p in paths if p.endswith((".py", ".safetensors"))
              and not any(part.startswith(".") for part in PurePosixPath(p).parts)]  # work in progress, never shipped
    for rel in sorted(chosen, key=lambda p: PurePosixPath(p).parts):
        h.update(rel.encode() + b"\0" + read(rel))
    return h.hexdigest()[:16]


def remove_entry(path: Path, why: str) -> None:
    """Rename an entry aside (`.<name>.<rand>.<why>`), then delete it: a reader sees it whole or
    not at all. Gone already: nothing to do."""
    aside = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.{why}"
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def default_root() -> Path:
    return default_cache_root().resolve()


def entry_checksums(entry: Path) -> dict[str, dict]:
    """{relative path: {size, sha256}} of every file in an entry except the manifest and marker."""
    out = {}
    for path in sorted(entry.rglob("*")):
        rel = path.relative_to(entry).as_posix()
        if rel in (CHECKSUMS, MARKER) or path.is_dir():
            continue
        if path.is_symlink() or not path.is_file():
            raise OSError(f"{path}: not a regular file; a cache entry holds only files")
        out[rel] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    return out


def entry_problem(entry: Path) -> str | None:
    """None when an entry matches its checksums; otherwise the first thing that is wrong."""
    try:
        manifest = json.loads((entry / CHECKSUMS).read_text())["files"]
    except FileNotFoundError:
        return f"no {CHECKSUMS} (written by an older cxrbench, or removed)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable {CHECKSUMS} ({exc})"
    try:
        found = {p.relative_to(entry).as_posix() for p in entry.rglob("*") if not p.is_dir()} - {CHECKSUMS, MARKER}
    except OSError as exc:
        return f"unreadable ({exc})"
    if extra := sorted(found - set(manifest)):
        return f"{extra[0]}: a file that is not in its checksums"
    for rel, want in manifest.items():
        path = entry / rel
        if path.is_symlink() or not path.is_file():
            return f"{rel}: missing or not a regular file"
        if path.stat().st_size != want.get("size"):
            return f"{rel}: {path.stat().st_size} bytes, its checksums say {want.get('size')} (truncated or extended)"
        if file_sha256(path) != want.get("sha256"):
            return f"{rel}: sha256 does not match its checksums (corrupted or altered)"
    return None


def _warn(msg: str) -> None:
    warnings.warn(msg, stacklevel=3)


class CorruptEntryError(CxrbenchError):
    """Two builders of one entry published different contents: one of them is not to be trusted."""


#: per thread, the list a running job collects its cache messages in (`collecting`)
_collector = threading.local()


@contextmanager
def collecting(events: list[str]) -> Iterator[list[str]]:
    """Route this thread's cache messages (corrupt entries, lease waits and takeovers) into
    `events` instead of `Cache.report`: a worker hands them to the driver with the job's result."""
    previous = getattr(_collector, "events", None)
    _collector.events = events
    try:
        yield events
    finally:
        _collector.events = previous


def _manifest(entry: Path) -> dict | None:
    try:
        return json.loads((entry / CHECKSUMS).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Cache:
    """Stage outputs by (stage, key). `force=True` recomputes (and replaces) every entry it is asked for.

    `report(message)` receives one line per corrupt entry found (default: a warning)."""

    def __getstate__(self) -> dict:
        # Worker processes (`--jobs`) get the cache without the console callback: their reports warn.
        return {**self.__dict__, "report": _warn}

    def __init__(self, root: str | Path | None = None, *, force: bool = False,
                 report: Callable[[str], None] | None = None, lease_ttl: float | None = None):
        self.root = Path(root).resolve() if root else default_root()
        self.lease_ttl = lease_ttl  # None: cxrbench.runner.lease.DEFAULT_TTL_S
        self.force = force
        self._forced: set[Path] = set()
        self._verified: set[Path] = set()
        self._cleared: set[Path] = set()  # scratch folders `force` has emptied once already
        self._scratches: set[Path] = set()  # scratch folders handed out (removed by `discard_partials`)
        self.problems: list[str] = []
        self.report = report or _warn
        self.built_by: dict[tuple[str, str], str] = {}  # entries this process waited for: who built them
        self.identity: str | None = None  # the cache's id (`node_check`), set by the driver for its workers
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cache {self.root} cannot be created ({exc.strerror or exc}): pass --cache with a "
                              f"writable folder, or set CXRBENCH_CACHE") from None

    def say(self, message: str) -> None:
        """Report one cache event: into the running job's events on a worker, else to `report`."""
        events = getattr(_collector, "events", None)
        if events is not None:
            events.append(message)
        else:
            self.report(message)

    def key(self, stage: str, payload: dict) -> str:
        return stable_hash({"stage": stage, "cxrbench": __version__, **payload})

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / key

    def has(self, stage: str, key: str) -> bool:
        path = self.path(stage, key)
        if self.force and path not in self._forced:
            return False
        if not (path / MARKER).is_file():
            return False
        if path in self._verified:
            return True
        problem = entry_problem(path)
        if problem is None:
            self._verified.add(path)
            return True
        message = f"cache entry {path} is corrupt ({problem}); rebuilding it"
        self.problems.append(message)
        self.say(message)
        self._discard(path)
        return False

    def discard(self, stage: str, key: str) -> None:
        """Remove an entry that is not to be trusted (its builder's report did not match it)."""
        path = self.path(stage, key)
        self._verified.discard(path)
        self._forced.discard(path)
        self._discard(path)

    def _discard(self, path: Path) -> None:
        try:
            remove_entry(path, "corrupt")
        except OSError:
            pass

    @contextmanager
    def building(self, stage: str, key: str, meta: dict | None = None) -> Iterator[Path]:
        """Yield a scratch directory; on success it becomes the entry (with a COMPLETE marker)."""
        final = self.path(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir()
        try:
            yield tmp
            (tmp / CHECKSUMS).write_text(json.dumps({"files": entry_checksums(tmp)}, indent=1))
            (tmp / MARKER).write_text(json.dumps({"stage": stage, "key": key, **(meta or {})}, default=str))
            self._publish(tmp, final)
            self._forced.add(final)
            self._verified.add(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _publish(self, tmp: Path, final: Path) -> None:
        """Rename a finished entry into place. An entry found there is replaced under `force` (once per
        run) or when it is corrupt; one that another builder published meanwhile is kept when its
        checksums equal these (nothing to do), and a CorruptEntryError names both when they differ."""
        if final.exists() and ((self.force and final not in self._forced) or entry_problem(final) is not None):
            remove_entry(final, "old")
        try:
            os.rename(tmp, final)  # a directory is never renamed onto a non-empty one: a race is seen here
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        theirs, ours = _manifest(final), _manifest(tmp)
        if theirs is not None and theirs == ours:
            self.say(f"cache entry {final} was published by another builder meanwhile, with the same checksums: "
                     f"kept theirs")
            return
        kept = final.parent / f".{final.name}.{uuid.uuid4().hex[:8]}.conflict"
        os.replace(tmp, kept)
        raise CorruptEntryError(f"cache entry {final} was published by another builder with other contents than "
                                f"this build, kept at {kept} ({_difference(theirs, ours)}): the stage is not "
                                f"deterministic or one copy is corrupt; compare them, remove the wrong one and rerun")

    def meta(self, stage: str, key: str) -> dict:
        """The metadata an entry was built with (`building(meta=...)`); {} when absent or unreadable."""
        try:
            meta = json.loads((self.path(stage, key) / MARKER).read_text())
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def scratch(self, stage: str, key: str) -> Path:
        """A persistent work-in-progress folder for a stage that resumes piecewise (e.g. generation shards)."""
        path = self.root / stage / key[:2] / f".{key}.partial"
        if self.force and self.path(stage, key) not in self._forced and path.exists() and path not in self._cleared:
            shutil.rmtree(path, ignore_errors=True)
            self._cleared.add(path)
        path.mkdir(parents=True, exist_ok=True)
        self._scratches.add(path)
        return path

    def discard_partials(self) -> list[Path]:
        """Remove the work-in-progress folders this Cache handed out that are still there.

        The runner calls it when a task fails with an error, so a failed run leaves no
        `.<key>.partial` folder behind; a run that is killed (or interrupted) keeps its finished
        shards, and the rerun resumes from them.
        """
        gone = []
        scratches, self._scratches = self._scratches, set()
        for path in sorted(scratches):
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
                gone.append(path)
        return gone

    @contextmanager
    def claim(self, stage: str, key: str) -> Iterator[bool]:
        """Hold the build lease of an entry (`cxrbench.runner.lease`): yields True when this worker
        must build it, False when another worker finished it meanwhile (read it instead)."""
        from cxrbench.runner.lease import lease

        final = self.path(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        started = __import__("time").time()

        def done() -> bool:
            if self.has(stage, key):
                return True
            # under --force, an entry another worker rebuilt during this run counts as done
            marker = final / MARKER
            if self.force and marker.is_file() and marker.stat().st_mtime >= started and entry_problem(final) is None:
                self.accept(stage, key)
                return True
            return False

        def built_elsewhere(who: str) -> None:
            self.built_by[(stage, key)] = who

        with lease(final.parent / f".{key}.lease", done=done, on_wait=self.say, on_built_elsewhere=built_elsewhere,
                   **({"ttl": self.lease_ttl} if self.lease_ttl else {})) as mine:
            yield mine

    def digest(self, stage: str, key: str) -> str | None:
        """sha256 of an entry's CHECKSUMS.json (its content identity), or None when it has none."""
        try:
            return hashlib.sha256((self.path(stage, key) / CHECKSUMS).read_bytes()).hexdigest()
        except OSError:
            return None

    def accept(self, stage: str, key: str) -> None:
        """Another process built and this one verified the entry: use it (also under `force`)."""
        path = self.path(stage, key)
        self._forced.add(path)
        self._verified.discard(path)  # verify once more when next used


def _difference(theirs: dict | None, ours: dict | None) -> str:
    """The first file on which two entries' checksums disagree, in words."""
    if theirs is None:
        return f"the published one has no readable {CHECKSUMS}"
    for rel in sorted(set(theirs) | set(ours or {})):
        if (theirs or {}).get(rel) != (ours or {}).get(rel):
            return f"{rel} differs"
    return "their checksums differ"
