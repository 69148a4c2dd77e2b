"""The Python API: `evaluate` does what `cxrbench evaluate` does, from a script or a notebook.

```python
from cxrbench.api import evaluate

records = evaluate("submissions/phantom-oracle", ["phantom/supplement-100"], budget="quick")
print(records[0].comparisons[0].delta)
```

`cxrbench` is a namespace package (four folders, no `__init__.py`, so that mypy, pyright and an
IDE resolve every `cxrbench.*` import to its file); its entry points therefore live in modules:
this one for evaluation. The CLI builds its options with `run_options` and runs them with
`run`, so a script and the command line make the same call and write the same records.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from cxrbench.errors import ConfigError
from cxrbench.results import ResultRecord
from cxrbench.runner.evaluate import TaskOutcome
from cxrbench.runner.options import RunOptions

__all__ = ["RunOptions", "dry_run", "evaluate", "run", "run_options"]


def run_options(*, tasks: list[str] | None = None, budget: str = "quick", seeds: int | None = None,
                out: str | Path = "runs", cache: str | Path | None = None, force: bool = False, device: str = "auto",
                threads: int = 1, jobs: int = 0, data: str = "phantom", executor: str = "local",
                address: str | None = None, ray_workers: int = 0, unsafe_no_sandbox: bool = False,
                limit: int | None = None, evaluator_key: str | None = None, eval_sets: str | None = None,
                private_evals: str | Path | None = None, features: str | None = None,
                feature_weights: str | None = None) -> RunOptions:
    """The options of one evaluation, checked, from the CLI's flags (same names, same defaults).

    `seeds`: how many classifier seeds (the first N of the first task's budget list, then the next
    integers); `jobs=0`: one training process per CPU core (1 on a GPU); `device="auto"`: CUDA when
    present; `limit`: a smoke test on at most N images per set (records marked, never publishable);
    `features`, `feature_weights`: the audit's feature space and its weights (docs/audit.md)."""
    from cxrbench.runner.executors import EXECUTORS
    from cxrbench.trust.populations import population_from_options

    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if jobs <= 0:
        jobs = 1 if device != "cpu" else max(1, min(8, (os.cpu_count() or 1) // max(threads, 1)))
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if executor != "ray" and (address or ray_workers):
        raise ConfigError("--address and --ray-workers need --executor ray")
    if limit is not None and limit < 10:
        raise ConfigError(f"--limit {limit}: give at least 10 images per set")
    population = population_from_options(evaluator_key, eval_sets, Path(private_evals) if private_evals else None)
    opts = RunOptions(budget=budget, out_dir=Path(out), cache_root=Path(cache) if cache else None, force=force,
                      device=device, profile=data, threads=threads, jobs=jobs, unsafe_no_sandbox=unsafe_no_sandbox,
                      executor=executor, address=address, ray_workers=ray_workers, population=population, limit=limit,
                      audit_features=features, feature_weights=feature_weights)
    if seeds:
        from cxrbench.tasking import get_task

        first = get_task(tasks[0]).budget(budget).seeds if tasks else list(range(8))
        opts.seeds = (list(first) + [s for s in range(1000) if s not in first])[:seeds]
    return opts


def run(submission: str | Path, tasks: list[str] | None, opts: RunOptions,
        console: Console | None = None) -> list[TaskOutcome]:
    """Evaluate with ready options; each task's record and the path it was written to."""
    from cxrbench.runner.evaluate import evaluate as run_evaluate

    return run_evaluate(submission, tasks or None, opts, console)


def evaluate(submission: str | Path, tasks: list[str] | None = None, *, budget: str = "quick",
             executor: str = "local", console: Console | None = None, **options) -> list[ResultRecord]:
    """Score a generator or classifier submission folder on `tasks` (default: every task of its kind
    at `budget`), exactly as `cxrbench evaluate` does; one sealed record per task, in task order.

    `options`: any other flag of `cxrbench evaluate` by its long name (`seeds`, `out`, `cache`,
    `device`, `threads`, `jobs`, `limit`, `unsafe_no_sandbox`, ...; see `run_options`). A task that
    fails gives a record with `status == "failed"` and its `errors`; bad input raises a
    `cxrbench.errors.CxrbenchError` before anything runs."""
    opts = run_options(tasks=tasks, budget=budget, executor=executor, **options)
    return [o.record for o in run(submission, tasks, opts, console)]


def dry_run(submission: str | Path, tasks: list[str] | None = None, *, budget: str = "quick", **options):
    """What `evaluate` would run (`cxrbench evaluate --dry-run`): checks, jobs, cached jobs, estimated CPU time."""
    from cxrbench.runner.dry_run import dry_run as plan_only

    return plan_only(submission, tasks, run_options(tasks=tasks, budget=budget, **options))
