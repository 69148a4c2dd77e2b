"""A lease on one cache entry while it is being built, so workers sharing a cache compute it once.

Hand-rolled on purpose: the cache must work on any shared filesystem (NFS, Lustre) without a
lock server, and `O_CREAT | O_EXCL` file creation plus heartbeats written into the file is what
those honour (`fcntl` locks are not reliable across NFS clients).

The lease is a file `.<key>.lease` beside the entry, created with `O_CREAT | O_EXCL`. Its first
line names the owner: host name (for people), machine id, boot id and pid namespace (which kernel
and which process table the pid belongs to), pid, the process's start time and a random token.
Its second line is a heartbeat counter the owner rewrites every `ttl / 4` seconds through the file
descriptor it created (so a lease taken over from it is never written to).

Freshness is judged by the heartbeats, never by mtimes or clocks: a waiter re-reads the file
(an `open` revalidates it on NFS: close-to-open consistency) and the lease is stale once its
content has not changed for `ttl` seconds of the waiter's own monotonic clock. mtimes on NFS come
from the attribute cache (up to `acregmax`, 60 s by default) and from another node's clock, so a
live lease could look stale; the content cannot. The ttl is a multiple (`TTL_MULTIPLE`) of the
attribute-cache time (`ATTRIBUTE_CACHE_S`) so that even a client that serves reads from its
cache (`nocto`) sees several heartbeats per ttl. A lease whose owner is a dead process of this
kernel and pid namespace is stale at once. A takeover re-reads the lease just before it moves it
aside and puts it back if what it moved is not what it judged stale.
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
from functools import lru_cache
from pathlib import Path

from cxrbench.data.atomic import pid_running

#: the longest a client may serve a file's attributes from its cache (Linux NFS `acregmax` default)
ATTRIBUTE_CACHE_S = 60.0
#: the lease ttl in attribute-cache times: several heartbeats (every ttl / 4) fit in one
TTL_MULTIPLE = 3
#: seconds without a new heartbeat after which a lease is stale; set CXRBENCH_LEASE_TTL to
#: TTL_MULTIPLE x the mount's `acregmax` (or lower it on a local disk or a `noac` mount)
DEFAULT_TTL_S = float(os.environ.get("CXRBENCH_LEASE_TTL", TTL_MULTIPLE * ATTRIBUTE_CACHE_S))
#: width of the heartbeat counter (rewritten in place, so the file never changes length)
_BEAT_WIDTH = 20


def _read_first(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.readline().strip()
    except OSError:
        return ""


@lru_cache(maxsize=1)
def _kernel() -> dict:
    """Which machine, boot and pid namespace this process runs in: two processes can compare
    pids only when all three agree (containers and nodes may share a host name, or a machine id)."""
    try:
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = ""
    return {"machine": _read_first("/etc/machine-id"), "boot": _read_first("/proc/sys/kernel/random/boot_id"),
            "pidns": pidns}


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (`/proc/PID/stat` field 22): a reused pid differs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def owner_identity() -> dict:
    """The identity written into a lease this process creates."""
    return {"host": socket.gethostname(), **_kernel(), "pid": os.getpid(), "start": _start_time(os.getpid()),
            "token": uuid.uuid4().hex}


def describe(owner: dict | None) -> str:
    """`host:pid` of a lease's owner, for messages."""
    return f"{owner.get('host')}:{owner.get('pid')}" if owner else "another worker"


def read_lease(path: Path) -> tuple[dict | None, str | None]:
    """(owner, heartbeat) of the lease at `path`; (None, None) when it is gone or unreadable."""
    try:
        text = path.read_text()
    except OSError:
        return None, None
    first, _, rest = text.partition("\n")
    try:
        owner = json.loads(first)
    except ValueError:
        return None, None
    return (owner if isinstance(owner, dict) else None), (rest.strip() or None)


def dead_owner(owner: dict | None) -> str | None:
    """Why `owner` is known to be dead: a process of this kernel and pid namespace that no longer
    runs (or whose pid now belongs to another process). None when that cannot be known here."""
    if not owner or any(owner.get(k) != v or not v for k, v in _kernel().items()):
        return None
    pid = int(owner.get("pid") or 0)
    if pid <= 0:
        return None
    if not pid_running(pid):
        return f"its owner (pid {pid} on this host) is dead"
    if owner.get("start") and _start_time(pid) not in ("", owner["start"]):
        return f"its owner (pid {pid} on this host) is dead (the pid now belongs to another process)"
    return None


class _Watch:
    """A waiter's view of one lease: the content it last saw and when (its own monotonic clock)."""

    def __init__(self, path: Path, ttl: float):
        self.path, self.ttl = path, ttl
        self.seen: tuple | None = None
        self.since = time.monotonic()

    def look(self) -> tuple:
        content = read_lease(self.path)
        if content != self.seen:
            self.seen, self.since = content, time.monotonic()
        return content

    def stale_reason(self) -> str | None:
        """Why the lease may be taken over now (None: fresh, or gone)."""
        owner, beat = self.look()
        if owner is None and beat is None and not self.path.exists():
            return None
        if (why := dead_owner(owner)) is not None:
            return why
        silent = time.monotonic() - self.since
        if silent > self.ttl:
            return f"no heartbeat from {describe(owner)} for {silent:.0f} s (ttl {self.ttl:.0f} s)"
        return None


def _try_create(path: Path, owner: dict) -> int | None:
    """The descriptor of a new lease file holding `owner` and heartbeat 0, or None if one exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    except FileExistsError:
        return None
    os.write(fd, (json.dumps(owner) + "\n" + "0".rjust(_BEAT_WIDTH) + "\n").encode())
    os.fsync(fd)
    return fd


def _break(path: Path, seen: tuple | None) -> bool:
    """Move a stale lease aside; if what was moved is not the lease judged stale (its owner beat
    once more, or someone else took it over in between), put it back. True when it was broken."""
    if read_lease(path) != seen:  # double check, just before the move
        return False
    aside = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.stale")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return True
    broken = read_lease(aside) == seen
    if not broken:
        try:
            os.link(aside, path)  # fails if yet another owner created one: theirs stays
        except OSError:
            pass
    aside.unlink(missing_ok=True)
    return broken


def _heartbeat(fd: int, offset: int, ttl: float, stop: threading.Event) -> None:
    beat = 0
    while not stop.wait(ttl / 4):
        beat += 1
        try:
            os.pwrite(fd, str(beat).rjust(_BEAT_WIDTH).encode(), offset)
            os.fsync(fd)  # an NFS client writes back at close or fsync: other nodes see it now
        except OSError:
            return


@contextmanager
def lease(path: Path, *, done: Callable[[], bool], ttl: float = DEFAULT_TTL_S, poll_s: float = 0.2,
          on_wait: Callable[[str], None] | None = None, on_built_elsewhere: Callable[[str], None] | None = None
          ) -> Iterator[bool]:
    """Hold the lease at `path` for the body, or wait for whoever holds it.

    Yields True when this process holds the lease and must build the entry, False when `done()`
    became true (another worker finished the entry) while waiting; `on_built_elsewhere(who)` is
    then told who held the lease. The lease is removed on exit, whether the body succeeded or raised.
    """
    owner = owner_identity()
    watch = _Watch(path, ttl)
    holder: dict | None = None
    while True:
        if done():
            if holder is not None and on_built_elsewhere:
                on_built_elsewhere(describe(holder))
            yield False
            return
        fd = _try_create(path, owner)
        if fd is not None:
            break
        if (why := watch.stale_reason()) is not None:
            seen = watch.seen
            if _break(path, seen) and on_wait:
                on_wait(f"took over the lease {path.name}: {why}")
            continue
        current = watch.seen[0] if watch.seen else None
        if current is not None and current != holder:
            holder = current
            if on_wait:
                on_wait(f"waiting for {describe(holder)}, which is building {path.name.removesuffix('.lease').lstrip('.')}")
        time.sleep(poll_s)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(fd, len(json.dumps(owner)) + 1, ttl, stop),
                            name=f"lease {path.name}", daemon=True)
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join()
        os.close(fd)
        if read_lease(path)[0] == owner:
            path.unlink(missing_ok=True)
