"""One progress view for a whole plan, fed by the executor's events.

On a terminal: a rich bar for the plan and one per stage (done / running / queued, jobs per
minute of the stage's finished work, time remaining). Elsewhere (a CI log, `2> run.log`, a Slurm
output file), where rich redraws nothing until the end: one line per finished, failed or retried job.
"""

from __future__ import annotations

import time
from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cxrbench.runner.executors.base import Event
from cxrbench.runner.plan import STAGES, Plan


def job_line(event: Event, done: int, total: int) -> str:
    """The log line of one finished, failed or retried job, or of what a worker's cache said (plain text)."""
    job, outcome = event.job, event.outcome
    if event.kind == "retry":
        return f"[{done}/{total}] {job.label} retried: {event.message}"
    if event.kind == "note":
        return f"[{done}/{total}] {job.label}: {event.message}"
    if event.kind == "failed":
        return f"[{done}/{total}] {job.label} failed: {event.message}"
    seconds = outcome.seconds if outcome else 0.0
    cached = (f" (cached: built by {outcome.built_by})" if outcome.built_by else " (cached)") \
        if outcome and outcome.cached else ""
    return f"[{done}/{total}] {job.label} done in {seconds:.1f} s{cached}"


class PlanProgress:
    """`on_event` for `run_plan`; use as a context manager around the run."""

    def __init__(self, plan: Plan, console: Console, title: str = "plan"):
        self.console, self.total = console, len(plan)
        self.stages = [s for s in STAGES if any(j.stage == s for j in plan)]
        self.state: dict[str, str] = {}
        self.first_start: dict[str, float] = {}
        self.worked = Counter()  # uncached jobs finished per stage
        self.log = None if console.is_terminal else console.print
        columns = (TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn())
        self.progress = Progress(*columns, console=console, transient=False, disable=self.log is not None)
        self.bars = {None: self.progress.add_task(title, total=self.total, status="")}
        for stage in self.stages:
            n = sum(j.stage == stage for j in plan)
            self.bars[stage] = self.progress.add_task(stage, total=n, status="")

    def __enter__(self) -> PlanProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def _status(self, stage: str | None) -> str:
        counts = Counter(k for key, k in self.state.items() if stage is None or key[1] == stage)
        text = f"{counts['started']} running · {counts['queued']} queued"
        if stage is not None and self.worked[stage] and stage in self.first_start:
            per_min = 60 * self.worked[stage] / max(time.time() - self.first_start[stage], 1e-3)
            text += f" · {per_min:.1f} jobs/min"
        return text

    def __call__(self, event: Event) -> None:
        job = event.job
        ident = (job.key, job.stage)
        if event.kind in ("queued", "started"):
            self.state[ident] = event.kind
            if event.kind == "started":
                self.first_start.setdefault(job.stage, event.at or time.time())
        elif event.kind in ("done", "failed", "cancelled"):  # cancelled: not needed any more (no line of its own)
            self.state[ident] = "finished"
            if event.outcome is not None and not event.outcome.cached and event.kind == "done":
                self.worked[job.stage] += 1
            self.progress.advance(self.bars[None])
            self.progress.advance(self.bars[job.stage])
        done = sum(v == "finished" for v in self.state.values())
        dependent = event.kind == "failed" and str(event.message or "").startswith("not run:")  # its cause has a line
        if self.log is not None and event.kind in ("done", "failed", "retry", "note") and not dependent:
            self.log(escape(job_line(event, done, self.total)), soft_wrap=True)
        elif event.kind in ("retry", "note"):  # above the bars: a cluster's events are not hidden by the view
            self.progress.console.print(f"[yellow]{escape(job_line(event, done, self.total))}[/]", soft_wrap=True)
        for stage, bar in self.bars.items():
            self.progress.update(bar, status=self._status(stage))
