"""What a worker checks about its node before it takes a job: the shared cache is mounted there
(the very cache the driver uses, not a local folder of the same name), and bubblewrap runs there
when the job runs submission code. A node that fails is a node problem, reported as such: the
driver runs the job again (elsewhere, when the cluster has another node) instead of failing it
as the submission's fault, one job after another."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

#: a file in the cache root naming this cache; a worker that reads another id sees another folder
IDENTITY_FILE = ".cxrbench-cache-id"

_checked: dict[tuple, str | None] = {}  # per worker process: what was found, so each check runs once


def cache_identity(root: Path) -> str:
    """The cache's id (written once, by whoever comes first): the driver hands it to its workers."""
    from cxrbench.data.atomic import atomic_write_bytes

    path = Path(root) / IDENTITY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        atomic_write_bytes(path, uuid.uuid4().hex.encode())
        return path.read_text().strip()


def _cache_problem(root: Path, identity: str | None) -> str | None:
    if not Path(root).is_dir():
        return f"the cache {root} is not mounted here (no such folder)"
    if identity is None:
        return None
    try:
        found = (Path(root) / IDENTITY_FILE).read_text().strip()
    except OSError:
        found = None
    if found != identity:
        return (f"{root} here is not the driver's cache (its id is {found or 'missing'}, the driver's {identity}): "
                f"mount the shared cache at the same path on every node")
    if not os.access(root, os.W_OK):
        return f"the cache {root} is not writable here"
    return None


def _sandbox_problem() -> str | None:
    from cxrbench.submissions.bwrap import unavailable_reason

    return unavailable_reason()


def node_problem(cache_root: Path, identity: str | None, sandboxed: bool) -> str | None:
    """One line naming this node and what it lacks, or None when it can take the job."""
    key = (str(cache_root), identity, sandboxed)
    if key not in _checked:
        problem = _cache_problem(cache_root, identity)
        if problem is None and sandboxed and (why := _sandbox_problem()) is not None:
            problem = f"bubblewrap cannot run here ({why}); install it on every node"
        _checked[key] = None if problem is None else f"node {socket.gethostname()}: {problem}"
    return _checked[key]
