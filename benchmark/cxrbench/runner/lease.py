"""A lease on one cache entry while it is being built, so workers sharing a cache compute it once.

Hand-rolled on purpose: the cache must work on any shared filesystem (NFS, Lustre) without a
lock server, and `O_CREAT | O_EXCL` file creation plus `mtime` heartbeats is what those honour
(`fcntl` locks are not reliable across NFS clients).

The lease is a file `.<key>.lease` beside the entry, created with `O_CREAT | O_EXCL` and holding
its owner (host, pid, a random token). While the owner works, a heartbeat thread touches it every
`ttl / 4` seconds. Anyone else who wants the entry waits while the lease is fresh, then either
finds the finished entry (and reads it instead of recomputing) or finds the lease gone or stale
(its mtime older than `ttl`, or its owner a dead process on this host) and takes it over.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cxrbench.data.atomic import pid_running

#: seconds without a heartbeat after which a lease is stale (overridable for tests and slow filesystems)
DEFAULT_TTL_S = float(os.environ.get("CXRBENCH_LEASE_TTL", "60"))


def _owner() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex}


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def stale_reason(path: Path, ttl: float) -> str | None:
    """Why the lease at `path` may be taken over (None: it is held by a live owner, or is gone)."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    owner = _read(path)
    if owner and owner.get("host") == socket.gethostname() and not pid_running(int(owner.get("pid", 0))):
        return f"its owner (pid {owner.get('pid')} on this host) is dead"
    if age > ttl:
        who = f"{owner.get('host')}:{owner.get('pid')}" if owner else "an unknown owner"
        return f"no heartbeat from {who} for {age:.0f} s (ttl {ttl:.0f} s)"
    return None


def _try_create(path: Path, owner: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        json.dump(owner, fh)
    return True


def _break(path: Path, seen: dict | None) -> None:
    """Move a stale lease aside; if what was moved is not the lease judged stale (someone else
    took it over in between), put it back."""
    aside = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.stale")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return
    if seen is not None and _read(aside) != seen:
        try:
            os.link(aside, path)  # fails if yet another owner created one: theirs stays
        except OSError:
            pass
    aside.unlink(missing_ok=True)


@contextmanager
def lease(path: Path, *, done: Callable[[], bool], ttl: float = DEFAULT_TTL_S, poll_s: float = 0.2,
          on_wait: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Hold the lease at `path` for the body, or wait for whoever holds it.

    Yields True when this process holds the lease and must build the entry, False when `done()`
    became true (another worker finished the entry) while waiting. The lease is removed on exit,
    whether the body succeeded or raised.
    """
    owner = _owner()
    waited = False
    while True:
        if done():
            yield False
            return
        if _try_create(path, owner):
            break
        seen = _read(path)
        if (why := stale_reason(path, ttl)) is not None:
            _break(path, seen)
            if on_wait:
                on_wait(f"took over the lease {path.name}: {why}")
            continue
        if not waited and on_wait:
            holder = f"{seen.get('host')}:{seen.get('pid')}" if seen else "another worker"
            on_wait(f"waiting for {holder}, which is building {path.name.removesuffix('.lease').lstrip('.')}")
        waited = True
        time.sleep(poll_s)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(ttl / 4):
            try:
                os.utime(path)
            except FileNotFoundError:
                return

    beat = threading.Thread(target=heartbeat, name=f"lease {path.name}", daemon=True)
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join()
        if _read(path) == owner:
            path.unlink(missing_ok=True)
