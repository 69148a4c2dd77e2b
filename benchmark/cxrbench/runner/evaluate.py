"""`evaluate`: one submission over tasks, generate → train → predict → score, with caching.

Plan → executor → assemble: each task adds its jobs to one plan (`planning.TaskRun`; a job's
key is the cache key of the entry it writes, so jobs shared by tasks, like the real-only
baseline, run once), an executor runs the plan (`local` here, or `ray`), and each task's
record is assembled from the cache (`assembly`) as soon as its last job has finished.

Each task runs on its own: a failure (bad data, a submission that crashes, hangs or returns
garbage) becomes a `failed` record naming the problem, and the next task still runs. Every stage
is cached by a hash of its inputs and written atomically, so a rerun after a crash or `kill -9`
resumes where it stopped and produces the same record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from cxrbench.errors import ConfigError, CxrbenchError
from cxrbench.results import ResultRecord
from cxrbench.runner.assembly import assemble, failed_record
from cxrbench.runner.cache import Cache, default_root
from cxrbench.runner.cache_usage import record_entries
from cxrbench.runner.environment import environment
from cxrbench.runner.executors import Event, Outcome, get_executor, run_plan
from cxrbench.runner.interrupt import as_interrupted
from cxrbench.runner.node_check import cache_identity
from cxrbench.runner.options import RunOptions
from cxrbench.runner.plan import Plan
from cxrbench.runner.planning import TaskRun
from cxrbench.runner.progress import PlanProgress
from cxrbench.runner.records import EVAL_GALLERY, copy_gallery, record_path, write_outputs
from cxrbench.runner.storage import check_writable, space_warning, storage_failure
from cxrbench.submissions import Submission, load_submission
from cxrbench.tasking import TaskSpec, default_tasks, get_task, kind_mismatch

# the names callers have imported from here since before the split
__all__ = ["RunOptions", "TaskOutcome", "TaskRun", "environment", "evaluate", "plan_tasks", "prepare", "record_path"]


@dataclass
class TaskOutcome:
    record: ResultRecord
    path: Path
    spec: TaskSpec | None = None


def prepare(submission_dir: str | Path, tasks: list[str] | None, opts: RunOptions,
            console: Console) -> tuple[Submission, list[TaskSpec]]:
    """Check the submission, its tasks and what its code needs to run (one line each, before anything
    runs); the submission (hashed once) and its tasks, baselines first."""
    sub = load_submission(submission_dir)
    sub.sha256()  # hashed once: every job's cache key and every record carry this hash
    specs = [get_task(t) for t in tasks] if tasks else default_tasks(sub.kind, opts.profile, opts.budget)
    for spec in specs:
        if (why := kind_mismatch(sub.kind, spec)) is not None:
            raise ConfigError(f"{sub.name} is a {sub.kind}: {why}")
        spec.budget(opts.budget)  # ConfigError: the task has no such budget
        if sub.kind == "classifier":
            sub.scored_labels(spec.name, spec.labels)  # predicts none of them: one line before anything runs
    if opts.limit is not None and opts.limit < 10:
        raise ConfigError(f"--limit {opts.limit}: give at least 10 images per set")
    if sub.entry_point and not opts.unsafe_no_sandbox:  # own code or a diffusers/timm adapter
        from cxrbench.submissions.bwrap import unavailable_reason

        if (why := unavailable_reason()) is not None:
            raise ConfigError(f"{why}. Submission code runs only under bubblewrap; install it (`make sandbox`, "
                              f"or apt-get install bubblewrap), or pass --unsafe-no-sandbox to run it without "
                              f"isolation (the records then say so and the leaderboard marks them)")
    if sub.manifest.entry_point and opts.unsafe_no_sandbox and opts.population.key is not None:
        raise ConfigError("--unsafe-no-sandbox with an evaluator key is refused: submission code running without "
                          "isolation could read the key and every held-out label; run it under bubblewrap")
    if sub.manifest.entry_point and opts.unsafe_no_sandbox:
        console.print("[bold red]WARNING: --unsafe-no-sandbox: submission code runs WITHOUT isolation. It can read "
                      "and change anything this user can (the cache, other results, your files). Records say "
                      "`isolation: none` and the leaderboard marks them.[/]")
    if not specs:
        raise CxrbenchError(f"no {opts.profile} tasks with a {opts.budget!r} budget for a {sub.kind} submission")
    # Baselines first, so their (shared, cached) runs come before the tasks that compare with them.
    return sub, sorted(specs, key=lambda s: (s.supplement_ratio, s.name))


def plan_tasks(sub: Submission, specs: list[TaskSpec], opts: RunOptions, cache: Cache,
               *, pixels: bool = True) -> tuple[Plan, list[TaskRun]]:
    """One plan for every task (a task that cannot be planned keeps its error in `TaskRun.error`).
    `pixels=False`: rows only, no image is rendered or decoded (`--dry-run`: the same job keys)."""
    plan, runs = Plan(), []
    for spec in specs:
        run = TaskRun(sub, spec, opts, cache, pixels=pixels)
        try:
            run.plan(plan)
        except CxrbenchError as exc:
            run.error = str(exc)
        except OSError as exc:  # the image store could not be written: this task fails, not the run
            if (line := storage_failure(exc, cache.root)) is None:
                raise
            run.error = line
        runs.append(run)
    return plan, runs


def evaluate(submission_dir: str | Path, tasks: list[str] | None = None, opts: RunOptions | None = None,
             console: Console | None = None) -> list[TaskOutcome]:
    """Run a submission over tasks (default: its kind's tasks at the budget); write and return records."""
    opts = opts or RunOptions()
    console = console or Console(stderr=True)
    sub, specs = prepare(submission_dir, tasks, opts, console)
    executor = get_executor(opts.executor, workers=opts.jobs if opts.executor == "local" else opts.ray_workers,
                            threads=opts.threads or 1, device=opts.device, address=opts.address)
    outcomes: list[TaskOutcome] = []
    finished: dict[str, Outcome] = {}
    try:
        _run(sub, specs, opts, console, executor, outcomes, finished)
    except KeyboardInterrupt as exc:  # SIGINT / SIGTERM (`cxrbench.runner.interrupt`): the executor has stopped
        stopped = as_interrupted(exc)
        stopped.kept = _kept(finished, outcomes, opts)
        raise stopped from None
    return outcomes


def _kept(finished: dict[str, Outcome], outcomes: list[TaskOutcome], opts: RunOptions) -> str:
    """What an interrupted run leaves for its rerun, in words."""
    built = sum(1 for o in finished.values() if not o.cached and o.error is None and o.job.entry is not None)
    root = Path(opts.cache_root).resolve() if opts.cache_root else default_root()
    records = f"{len(outcomes)} record(s) under {opts.out_dir}" if outcomes else "no record yet"
    return (f"{built} job result(s) finished in this run are in the cache {root} (entries are written whole "
            f"or not at all), {records}")


def _run(sub, specs: list[TaskSpec], opts: RunOptions, console: Console, executor, outcomes: list[TaskOutcome],
         finished: dict[str, Outcome]) -> None:
    """Plan every task, run the plan, write each record when its jobs are done: into `outcomes`
    (task order) and `finished` (job key → outcome), which the caller keeps if this is interrupted."""
    with executor:  # connects first: an unreachable cluster fails before anything is computed or written
        if (warning := few_seeds_warning(sub, specs, opts)) is not None:  # before anything runs
            console.print(f"[bold yellow]WARNING: {escape(warning)}[/]")
        cache = Cache(opts.cache_root, force=opts.force,
                      report=lambda msg: console.print(f"[bold yellow]{escape(msg)}[/]", soft_wrap=True))
        if opts.threads and opts.device == "cpu":
            import torch

            torch.set_num_threads(opts.threads)
        check_writable(cache.root)  # a read-only cache: one line before anything is planned
        cache.identity = cache_identity(cache.root)  # each worker checks it sees this very cache
        plan, runs = plan_tasks(sub, specs, opts, cache)
        needed = sum(job.estimate for job in plan if job.entry is not None and not cache.has(job.entry, job.key))
        if (warning := space_warning(cache.root, needed)) is not None:
            console.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        written: set[int] = set()
        cancelled: set[str] = set()  # jobs no task still running needs (`run_plan` does not start them)

        def write_ready() -> None:
            """Write each task's record as soon as its last job finished, or as soon as one of its jobs
            failed (it cannot complete: a failed generator ends its task before any training); then
            the jobs only finished tasks needed are not started."""
            for i, run in enumerate(runs):
                keys = run.job_keys()
                if i not in written and (run.error is not None or all(k in finished for k in keys)
                                         or any(finished[k].error for k in keys if k in finished)):
                    written.add(i)
                    outcomes.append(_finish(run, finished, console))
            live = {k for i, run in enumerate(runs) if i not in written for k in run.job_keys()}
            cancelled.update(k for i in written for k in runs[i].job_keys() if k not in finished and k not in live)

        view = PlanProgress(plan, console, title=f"{sub.name} · {len(specs)} task(s) · {executor.name}")

        def on_event(event: Event) -> None:
            view(event)
            if event.outcome is not None:
                finished[event.job.key] = event.outcome
                write_ready()

        with view:
            write_ready()  # tasks that failed while planning
            run_plan(plan, executor, cache, on_event=on_event, cancelled=cancelled)
    order = {id(r.task): i for i, r in enumerate(runs)}
    outcomes.sort(key=lambda o: order[id(o.spec)])


def _finish(run: TaskRun, finished: dict[str, Outcome], console: Console) -> TaskOutcome:
    """Assemble, write and report one task's record (a failure becomes a failed record)."""
    spec = run.task
    try:
        if run.error is not None:
            raise CxrbenchError(run.error)
        record, predictions = assemble(run, finished)
    except CxrbenchError as exc:
        console.print(f"[bold red]{spec.name}: failed:[/] {escape(str(exc))}", soft_wrap=True)  # one line
        run.cache.discard_partials()
        record, predictions = failed_record(run, str(exc)), None
    path = write_outputs(run.opts.out_dir, record, predictions, signer=run.opts.population.key)
    if record.status == "complete":  # `cxrbench cache gc --keep-published` keeps what it was made from
        record_entries(run.cache.root, record, run.entries)
    if record.status == "failed" and path.name.endswith(".failed.json"):
        console.print(f"[yellow]{spec.name}: the complete record {path.with_name(path.name[:-12] + '.json')} "
                      f"is kept; this failure is in {path.name}[/]")
    copy_gallery(run.audit_gallery, path, withhold=(EVAL_GALLERY,) if run.opts.population.private else ())
    return TaskOutcome(record, path, spec)


def few_seeds_warning(sub, specs: list[TaskSpec], opts: RunOptions) -> str | None:
    """Why no significance will be reported, when a task compares arms trained on too few seeds."""
    from cxrbench.stats.seed_patient import MIN_SEEDS, MIN_SEEDS_LABEL_TESTS

    few = [spec.name for spec in specs if (spec.baseline or (sub.kind == "classifier" and spec.real_train))
           and len(opts.seeds or spec.budget(opts.budget).seeds) < MIN_SEEDS]
    if not few:
        return None
    n = len(opts.seeds or specs[0].budget(opts.budget).seeds)
    return (f"{n} classifier seed(s): {', '.join(few)} will report Δ without a p-value, stars or Holm flags "
            f"(verdict inconclusive). The spread over fewer than {MIN_SEEDS} training seeds estimates their "
            f"variance with under 2 degrees of freedom, too few for a test that holds its level; use --seeds "
            f"{MIN_SEEDS} or more ({MIN_SEEDS_LABEL_TESTS} for per-label tests).")
