"""The driver loop every executor shares: submit ready jobs, check each result, retry, report events.

An executor only knows how to start a job somewhere (`submit`) and how to wait for some to
finish (`wait`); what counts as done, cached, failed or retried is decided here, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cxrbench.runner.cache import Cache
from cxrbench.runner.plan import Job, JobResult, Plan, verify


@dataclass
class Outcome:
    """How a job ended: `value` for a job without an entry, `error` when it failed."""

    job: Job
    cached: bool = False
    error: str | None = None
    value: Any = None
    seconds: float = 0.0
    attempts: int = 0
    built_by: str | None = None  # cached because it waited for another worker's lease: who built it
    events: list[str] = field(default_factory=list)  # retries and what the workers' caches said


@dataclass
class Event:
    """What the progress view and the log see: kind is queued, started, retry, note (something a
    worker's cache said: a lease taken over, a corrupt entry), done or failed."""

    kind: str
    job: Job
    outcome: Outcome | None = None
    message: str | None = None
    at: float = 0.0


class Executor:
    """Runs jobs somewhere. `parallelism` jobs are handed to it at once."""

    name = "base"
    parallelism = 1

    def start(self) -> None:
        """Connect or start workers; raises ConfigError (before anything is computed) when it cannot."""

    def close(self) -> None:
        """Release workers (a Ray instance started here is shut down)."""

    def abort(self) -> None:
        """Stop every job still running, and every process they started, now (an interrupted or
        failed driver); `close` follows. A job stopped here leaves no cache entry, only its lease
        (removed, or stale once its owner is gone) and the finished shards a rerun resumes from."""

    def accepts(self, job: Job, running: list[Job]) -> bool:
        """Whether `job` may be handed over now, beside the jobs `running` (at most `parallelism`)."""
        return len(running) < self.parallelism

    def submit(self, job: Job, cache: Cache) -> Any:
        """Start `job`; return a handle for `wait`."""
        raise NotImplementedError

    def wait(self, handles: list) -> list[tuple[Any, JobResult]]:
        """Block until at least one of `handles` finished; return (handle, result) for each finished."""
        raise NotImplementedError

    def __enter__(self) -> Executor:
        try:
            self.start()
        except BaseException:  # an interrupted or failed start releases what it had started
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None:
                self.abort()
        finally:
            self.close()


#: a job whose reported result does not check out is run once more, then fails with the reason
ATTEMPTS = 2
#: a job whose worker was lost (the process died, the node failed its checks) runs this often at most
LOST_ATTEMPTS = 3


#: the error of a job that was not started because nothing needed it any more
NOT_NEEDED = "not run: every task that needed it had already failed"


def run_plan(plan: Plan, executor: Executor, cache: Cache,
             on_event: Callable[[Event], None] | None = None,
             cancelled: set[str] | None = None) -> dict[str, Outcome]:
    """Run every job of `plan` whose entry is not cached, dependencies first; an outcome per key.

    A failed job fails the jobs that depend on it (they are not run) but not the others. A job
    with `after` starts once one of those has succeeded, and is not run when all of them failed.
    `cancelled`: keys the caller may add to while the plan runs (from `on_event`); such a job, not
    yet started, ends with `NOT_NEEDED` (event kind `cancelled`)."""
    cancelled = cancelled if cancelled is not None else set()
    emit = on_event or (lambda e: None)
    outcomes: dict[str, Outcome] = {}
    pending = list(plan)
    inflight: dict[Any, tuple[Job, int]] = {}
    for job in pending:
        emit(Event("queued", job, at=time.time()))

    notes: dict[str, list[str]] = {}  # job key → its retries and its workers' cache events, in order

    def note(job: Job, kind: str, message: str) -> None:
        notes.setdefault(job.key, []).append(message if kind == "note" else f"retried: {message}")
        emit(Event(kind, job, message=message, at=time.time()))

    def finish(outcome: Outcome, kind: str | None = None) -> None:
        outcome.events = notes.pop(outcome.job.key, [])
        outcomes[outcome.job.key] = outcome
        emit(Event(kind or ("failed" if outcome.error else "done"), outcome.job, outcome, outcome.error, time.time()))

    def gate(job: Job) -> str | None:
        """`ok` once one of `job.after` succeeded, `failed` when all failed, None while waiting."""
        if not job.after or any(a in outcomes and not outcomes[a].error for a in job.after):
            return "ok"
        return "failed" if all(a in outcomes for a in job.after) else None

    while pending or inflight:
        for job in [j for j in pending if j.key in cancelled]:
            pending.remove(job)
            finish(Outcome(job, error=NOT_NEEDED), "cancelled")
        for job in list(pending):
            if len(inflight) >= executor.parallelism:
                break
            if any(d not in outcomes for d in job.deps) or (waiting := gate(job)) is None:
                continue
            if waiting == "failed":
                pending.remove(job)
                finish(Outcome(job, error=NOT_NEEDED), "cancelled")
                continue
            failed = next((outcomes[d] for d in job.deps if outcomes[d].error), None)
            cached = failed is None and job.entry is not None and cache.has(job.entry, job.key)
            if failed is None and not cached and not executor.accepts(job, [j for j, _ in inflight.values()]):
                continue  # a later job may still fit (e.g. a training run beside a queued generation)
            pending.remove(job)
            if failed is not None:
                finish(Outcome(job, error=f"not run: {failed.job.label} failed ({failed.error})"))
            elif cached:
                finish(Outcome(job, cached=True))
            else:
                inflight[executor.submit(job, cache)] = (job, 1)
                emit(Event("started", job, at=time.time()))
        if not inflight:
            continue
        for handle, result in executor.wait(list(inflight)):
            job, attempt = inflight.pop(handle)
            for message in result.events:
                note(job, "note", f"{result.worker}: {message}" if result.worker else message)
            if result.lost and attempt < LOST_ATTEMPTS:
                note(job, "retry", result.error or "its worker was lost")
                inflight[executor.submit(job, cache)] = (job, attempt + 1)
                continue
            problem = result.error or verify(job, result, cache)
            if problem and result.error is None and job.entry is not None:
                cache.discard(job.entry, job.key)  # an entry its report does not match is not used
            if problem and result.error is None and attempt < ATTEMPTS:
                note(job, "retry", problem)
                inflight[executor.submit(job, cache)] = (job, attempt + 1)
                continue
            if result.built_by is not None and not problem:  # it waited: the work and its time are another's
                note(job, "note", f"built by {result.built_by} (waited {result.seconds:.1f} s for its lease)")
                finish(Outcome(job, cached=True, attempts=attempt, built_by=result.built_by))
                continue
            finish(Outcome(job, error=problem, value=result.value, seconds=result.seconds, attempts=attempt))
    return outcomes
