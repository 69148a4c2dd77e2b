"""Stopping an evaluation cleanly on SIGINT or SIGTERM (Ctrl-C, `timeout`, Slurm's time limit,
preemption).

In the driver, both signals raise `Interrupted` in the main thread (`signals_raise`): the run
unwinds through every `finally` (cache entries are only ever renamed into place whole, leases
are removed, sandboxes killed), each executor stops what it started (`Executor.abort`), and the
command exits with 128 + the signal after one line saying what was kept and how to resume. A
second signal while that happens is ignored: the cleanup's waits are bounded.

The driver also makes itself its descendants' reaper (`adopt_orphans`): a process whose parent
died first (a Ray agent when Ctrl-C killed its raylet) is re-parented to the driver, not to init,
so `stop_descendants` finds and stops it before the driver exits.

In a pool worker (`worker_signals`), SIGTERM raises `Interrupted` inside a running job so its own
cleanup runs, then the process exits; an idle worker exits at once. SIGINT is ignored there:
a Ctrl-C reaches the whole process group, and the driver decides how its workers stop.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from cxrbench.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_raise() -> Iterator[None]:
    """For the body: SIGINT and SIGTERM raise `Interrupted` in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupted(signum, frame):
        for other in SIGNALS:  # the first signal decides; the cleanup it starts is not interrupted
            signal.signal(other, signal.SIG_IGN)
        _received.append(signum)
        raise Interrupted(signum)

    before = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, raise_interrupted)
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def as_interrupted(exc: KeyboardInterrupt) -> Interrupted:
    """`exc` as the `Interrupted` of the signal that caused it. Libraries that wait in native code
    (Ray) turn the handler's exception into a plain KeyboardInterrupt; the signal is remembered here."""
    if isinstance(exc, Interrupted):
        return exc
    return Interrupted(_received[-1] if _received else signal.SIGINT)


_received: list[int] = []  # the signals `signals_raise` turned into Interrupted, in order
_in_job = threading.Event()


def worker_signals() -> None:
    """In a pool worker process: SIGTERM stops the running job through its `finally`s (then
    `leave_if_interrupted` exits), or exits at once when idle; SIGINT is the driver's to handle."""

    def on_term(signum, frame):
        if not _in_job.is_set():
            os._exit(128 + signum)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Interrupted(signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def worker_job() -> Iterator[None]:
    """Around one job in a pool worker: an `Interrupted` ends the process once the job has unwound
    (a pool would otherwise report it and wait for the next job)."""
    _in_job.set()
    try:
        yield
    except Interrupted as exc:
        os._exit(exc.exit_code)
    finally:
        _in_job.clear()


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def adopt_orphans() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux; False where it cannot)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def stop_descendants(wait_s: float = 3.0) -> list[int]:
    """Give this process's descendants `wait_s` to exit, then SIGKILL the rest (until none is left:
    one may start another between two scans). Returns the pids that had to be killed."""
    from cxrbench.submissions.limits import tree_pids

    def alive() -> list[int]:
        return [pid for pid in tree_pids(os.getpid())[1:] if _state(pid) not in (None, "Z")]

    deadline = time.monotonic() + wait_s
    while (left := alive()) and time.monotonic() < deadline:
        time.sleep(0.1)
    killed: list[int] = []
    for _ in range(20):
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
        left = alive()
    return killed


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, IndexError):
        return None


def resume_line(exc: Interrupted, command: str) -> str:
    """The last line of an interrupted command: what stopped it, what it kept, how to go on."""
    kept = f": {exc.kept}" if exc.kept else ""
    return f"interrupted by {exc.signal_name}{kept}; resume with: {command}"
