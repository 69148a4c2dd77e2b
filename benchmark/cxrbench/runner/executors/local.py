"""The `local` executor. With `--jobs 1` jobs run in this process one after another. With
`--jobs N` (N > 1) training jobs run in up to N spawned processes of `threads` CPU threads each,
while generation, audit and scoring stay in this process, one at a time, on a background thread:
so the pool keeps training while a generator samples (its sandboxed worker is a process of its
own) instead of idling until the generation returns. Predictions do not depend on N: each
training run is seeded and single-process either way."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from cxrbench.runner.cache import Cache
from cxrbench.runner.executors.base import Executor
from cxrbench.runner.plan import Job, JobResult, run_job

#: stages whose jobs may go to the process pool (they run no submission code and are CPU-bound)
POOLED = ("train",)


#: seconds an interrupted pool worker gets to unwind (remove its scratch, release its lease) before
#: it is killed
GRACE_S = 5.0
#: seconds the driver waits for an interrupted inline job: a sandboxed one ends within a watchdog
#: tick once its worker is killed; one computing in this process (an audit) cannot be interrupted
INLINE_GRACE_S = 2.0


def _worker_init(threads: int) -> None:
    import torch

    from cxrbench.runner.interrupt import worker_signals

    worker_signals()
    torch.set_num_threads(threads)


def _run_pooled(job: Job, cache: Cache) -> JobResult:
    """`run_job` in a pool worker: SIGTERM unwinds the job, then ends the process."""
    from cxrbench.runner.interrupt import worker_job

    with worker_job():
        return run_job(job, cache)


@dataclass(eq=False)
class _Handle:
    job: Job
    cache: Cache
    future: Any = None  # a pool or inline-thread future; None: runs in this process when waited for


class _InlineThread:
    """One daemon thread that runs this process's jobs in submission order (one at a time, as
    before: a generator or audit never shares this process with another). Daemon: an interrupted
    `evaluate` exits without waiting for it; the sandboxed worker it drives dies with it
    (`bwrap --die-with-parent`)."""

    def __init__(self):
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="cxrbench inline jobs", daemon=True)
        self._thread.start()

    def submit(self, job: Job, cache: Cache) -> Future:
        future: Future = Future()
        self._jobs.put((future, job, cache))
        return future

    def _serve(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            future, job, cache = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(run_job(job, cache))
            except BaseException as exc:  # re-raised by the driver's `result()`, as an inline run would
                future.set_exception(exc)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def close(self) -> None:
        """Cancel what has not started (an interrupted plan); a running job finishes or dies with us."""
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        self._jobs.put(None)


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int = 1, threads: int = 1):
        self.workers, self.threads = max(1, workers), threads
        self.parallelism = self.workers
        self._pool = None
        self._thread: _InlineThread | None = None
        self._inline: deque[_Handle] = deque()

    def _get_pool(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_worker_init, initargs=(self.threads,))
        return self._pool

    def accepts(self, job: Job, running: list[Job]) -> bool:
        """Besides the total, one inline job at a time: the thread runs them one after another, so a
        second one handed over would only wait in its queue while holding a slot the pool could use."""
        if len(running) >= self.parallelism:
            return False
        inline = self.workers > 1 and job.stage not in POOLED
        return not (inline and any(j.stage not in POOLED for j in running))

    def submit(self, job: Job, cache: Cache) -> _Handle:
        handle = _Handle(job, cache)
        if self.workers > 1 and job.stage in POOLED:
            handle.future = self._get_pool().submit(_run_pooled, job, cache)
        elif self.workers > 1:
            self._thread = self._thread or _InlineThread()
            handle.future = self._thread.submit(job, cache)
        else:
            self._inline.append(handle)
        return handle

    def wait(self, handles: list) -> list[tuple[Any, JobResult]]:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures

        futures = [h for h in handles if h.future is not None]
        finished = [(h, h.future.result()) for h in futures if h.future.done()]
        if finished:
            return finished
        if self._inline:
            handle = self._inline.popleft()
            return [(handle, run_job(handle.job, handle.cache))]
        done, _ = wait_futures([h.future for h in futures], return_when=FIRST_COMPLETED)
        return [(h, h.future.result()) for h in futures if h.future in done]

    def abort(self) -> None:
        """Kill the sandboxes of running jobs, stop the pool's workers (SIGTERM, then SIGKILL after
        GRACE_S) and let the inline thread's job unwind."""
        sandbox = sys.modules.get("cxrbench.submissions.sandbox")
        if sandbox is not None:
            sandbox.stop_all_workers()
        if self._pool is not None:
            _stop_workers(self._pool)
            self._pool = None
        if self._thread is not None:
            self._thread.close()
            self._thread.join(INLINE_GRACE_S)
            self._thread = None

    def close(self) -> None:
        if self._thread is not None:
            self._thread.close()
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _stop_workers(pool) -> None:
    """Terminate a process pool's workers, running or idle, and wait for them to be gone."""
    # concurrent.futures has no public handle on its workers before Python 3.14's terminate_workers
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + GRACE_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join(1.0)
    pool.shutdown(wait=False, cancel_futures=True)
