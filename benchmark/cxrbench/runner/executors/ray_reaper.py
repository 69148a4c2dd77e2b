"""Ends the Ray instance an `evaluate` started when that process dies without shutting it down
(SIGKILL, a crash): Ray's head processes and their agents would otherwise run on for half a
minute or more. A separate process in its own session watches the driver's pid; once it is gone
it sends SIGTERM to the recorded Ray processes and every descendant, then SIGKILL after a grace.

    python -m cxrbench.runner.executors.ray_reaper DRIVER_PID PID [PID ...]
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

POLL_S = 0.5
GRACE_S = 3.0


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except OSError:
        return None


def descendants(roots: list[int]) -> list[int]:
    """`roots` that still run and all their descendants (from /proc's parent pids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [p for p in roots if _start_time(p) is not None]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def ray_children(parent: int) -> list[int]:
    """The processes `parent` started that are Ray's (gcs_server, raylet, Ray's Python services),
    with their descendants: other children of the driver are not the reaper's business."""
    own = [pid for pid in descendants([parent]) if pid != parent and _parent(pid) == parent and _is_ray(pid)]
    return descendants(own)


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _is_ray(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"/ray/" in command or b"ray." in command or command.startswith(b"ray::")


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def reap(driver: int, ray_pids: list[int]) -> None:
    """Wait for `driver` to end; then end `ray_pids` and their descendants (if any still run)."""
    born = _start_time(driver)
    ray_born = {pid: _start_time(pid) for pid in ray_pids}

    def still_ray() -> list[int]:  # a pid reused by another process (same pid, other start time) is not Ray's
        return [pid for pid in ray_pids if ray_born[pid] is not None and _start_time(pid) == ray_born[pid]]

    while born is not None and _start_time(driver) == born:
        if not still_ray():  # Ray was shut down: nothing left to do
            return
        time.sleep(POLL_S)
    left = descendants(still_ray())
    _signal(left, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and descendants(left):
        time.sleep(0.1)
    _signal(descendants(left), signal.SIGKILL)


def start(ray_pids: list[int]) -> None:
    """Start a reaper for this process and `ray_pids` (detached: it outlives a killed driver)."""
    import subprocess

    subprocess.Popen([sys.executable, "-m", __name__, str(os.getpid()), *map(str, ray_pids)],
                     start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, close_fds=True)


if __name__ == "__main__":
    reap(int(sys.argv[1]), [int(p) for p in sys.argv[2:]])
