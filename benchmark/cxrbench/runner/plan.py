"""The plan of an evaluation: a graph of content-addressed jobs, and how one job runs on a worker.

A job is keyed by the cache key of the entry it publishes (`synthetic`, `classifier-run`,
`submitted-predictions`, `audit`: the keys the stages always had), so a job is done exactly when
its entry exists, whoever ran it, and a rerun of any plan resumes from the cache. The one job
without an entry (`score`, cheap) returns its result as data.

`run_job` is what a worker executes: hold the entry's lease, build it (or find it built by
another worker), and report the entry's digest; `verify` is what the driver checks before it
trusts that report.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cxrbench.errors import CxrbenchError
from cxrbench.runner.cache import Cache, collecting, entry_problem
from cxrbench.runner.node_check import node_problem
from cxrbench.runner.storage import storage_failure

#: stages in the order a task needs them (progress shows them in this order)
STAGES = ("generate", "predict", "audit", "train", "score")


@dataclass(frozen=True)
class Resources:
    """What one job occupies on a worker (Ray's `num_cpus` / `num_gpus`)."""

    num_cpus: float = 1
    num_gpus: float = 0


@dataclass
class Job:
    """One unit of work: `fn(cache=..., **kwargs)` builds the cache entry (entry, key).

    `fn` is a module-level function, so a job pickles to a process pool or a Ray worker."""

    key: str
    stage: str  # one of STAGES
    entry: str | None  # cache stage of the entry it publishes; None: `fn` returns the result (score)
    label: str  # e.g. "tiny/supplement-100 · train seed 1 (submission)"
    fn: Callable[..., Any]
    kwargs: dict
    deps: tuple[str, ...] = ()
    resources: Resources = Resources()
    threads: int = 1  # torch CPU threads inside the job
    #: jobs it waits for without needing their entries: it starts once one of them succeeded, and is
    #: not run when all failed (a generator task's baseline runs wait for its first synthetic replica,
    #: so a generator that fails ends its task before any training)
    after: tuple[str, ...] = ()
    estimate: int = 0  # bytes it writes to the cache, estimated when planned (0: not estimated)
    sandboxed: bool = False  # runs submission code under bubblewrap: a worker checks its node has it


@dataclass
class JobResult:
    """What a worker reports for one job: the entry's digest as it saw it, or the returned value."""

    key: str
    digest: str | None = None
    value: Any = None
    error: str | None = None
    seconds: float = 0.0
    worker: str = ""
    events: list[str] = field(default_factory=list)  # what the worker's cache said (lease takeovers, ...)
    built_by: str | None = None  # the worker waited for another's lease: who built the entry
    lost: bool = False  # not the job's fault (its worker or node failed): worth running elsewhere


@dataclass
class Plan:
    """Jobs by key, in insertion order, which is a topological order (a job's deps come first)."""

    jobs: dict[str, Job] = field(default_factory=dict)

    def add(self, job: Job) -> str:
        """Add a job (a job already planned under the same key is the same work: kept once; it waits
        for the jobs any of its planners waits for, and for nothing if one of them does not wait)."""
        missing = [d for d in (*job.deps, *job.after) if d not in self.jobs]
        if missing:
            raise ValueError(f"{job.label}: depends on job(s) not in the plan: {missing}")
        planned = self.jobs.setdefault(job.key, job)
        if planned is not job:
            planned.after = tuple(dict.fromkeys(planned.after + job.after)) if planned.after and job.after else ()
        return job.key

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs.values())

    def __len__(self) -> int:
        return len(self.jobs)


def run_job(job: Job, cache: Cache, remote: bool = False) -> JobResult:
    """Run one job where this process is (driver, pool process or Ray worker).

    A CxrbenchError (bad submission output, a timeout, ...) is the job's result, not a crash:
    it comes back as `error`, and the job's unfinished scratch folders are removed. So does a
    cache that cannot be written (full, read-only, I/O error): one line naming the path, the bytes
    needed and free. What the cache said meanwhile (lease waits and takeovers, corrupt entries)
    comes back in `events`."""
    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    if remote and job.threads:
        os.environ["OMP_NUM_THREADS"] = str(job.threads)  # read when torch starts its thread pool
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(job.threads)
    events: list[str] = []

    def result(**fields) -> JobResult:
        return JobResult(job.key, seconds=time.perf_counter() - start, worker=worker, events=events, **fields)

    if remote and (problem := node_problem(cache.root, cache.identity, job.sandboxed)) is not None:
        return result(error=problem, lost=True)  # the node's fault, not the job's: run it again

    with collecting(events):
        try:
            if job.entry is None:
                return result(value=job.fn(cache=cache, **job.kwargs))
            with cache.claim(job.entry, job.key) as mine:
                if mine:
                    job.fn(cache=cache, **job.kwargs)
        except CxrbenchError as exc:
            cache.discard_partials()
            return result(error=str(exc))
        except OSError as exc:
            if (line := storage_failure(exc, cache.root, job.estimate or None)) is None:
                raise
            return result(error=line)  # finished generation shards stay: a rerun with space resumes them
    built_by = None if mine else cache.built_by.pop((job.entry, job.key), "another worker")
    digest = cache.digest(job.entry, job.key)
    return result(digest=digest, built_by=built_by)


def verify(job: Job, result: JobResult, cache: Cache) -> str | None:
    """None when the worker's report holds (its entry exists, is intact, and has the digest the
    worker reported for this job's key); otherwise why not."""
    if result.key != job.key:
        return f"the worker returned the result of job {result.key[:12]}, not {job.key[:12]}"
    if job.entry is None:
        return None
    path = cache.path(job.entry, job.key)
    if (problem := entry_problem(path)) is not None:
        return f"its cache entry {path} is not intact ({problem})"
    actual = cache.digest(job.entry, job.key)
    if result.digest != actual:
        return (f"result hash {str(result.digest)[:12]}… from worker {result.worker} does not match the "
                f"entry of job key {job.key[:12]}… ({str(actual)[:12]}…)")
    cache.accept(job.entry, job.key)
    return None
