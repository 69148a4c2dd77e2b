"""`cxrbench evaluate --dry-run`: check the submission, tasks and budget, and say what a run would do.

The plan is the one `evaluate` builds (the same job keys, so "cached" means exactly what a run
would reuse), from the tasks' rows only: no image is rendered or decoded and nothing runs. The
CPU time of each job still to run is estimated from the budget: a training run costs its
images × the recipe's epochs at the recipe's training-step rate, plus its eval images at the
recipe's forward rate, both timed on this machine once and then read from the cache
(`cxrbench.runner.step_rates`); a generation costs its images at the rate measured when this
submission last generated into the cache. The plan says which rate each estimate used
(`sources`); what cannot be estimated (a submission's own code on its first run, the audit) is
said, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from cxrbench.runner.cache import Cache
from cxrbench.runner.options import RunOptions
from cxrbench.runner.plan import STAGES, Job, Plan
from cxrbench.runner.step_rates import StepRates, recipe_rates


@dataclass
class StagePlan:
    """The jobs of one stage: how many, how many the cache already holds, and the CPU seconds the
    rest are estimated to take (`unknown`: jobs without an estimate)."""

    stage: str
    jobs: int = 0
    cached: int = 0
    cpu_seconds: float = 0.0
    unknown: int = 0


@dataclass
class DryRun:
    submission: str
    budget: str
    tasks: list[tuple[str, str | None]]  # (task, why it cannot be planned or None)
    stages: list[StagePlan]
    notes: list[str] = field(default_factory=list)  # what is not estimated, and why
    sources: list[str] = field(default_factory=list)  # what each estimate was computed from

    @property
    def cpu_seconds(self) -> float:
        return sum(s.cpu_seconds for s in self.stages)


class _Rates:
    """Images/s of each recipe on this machine (training step; forward pass), asked once per dry run."""

    def __init__(self, opts: RunOptions, cache_root: Path):
        self.opts, self.cache_root = opts, cache_root
        self.rates: dict[tuple, tuple[Any, StepRates]] = {}  # recipe key -> (recipe, its rates)

    def __call__(self, recipe) -> StepRates:
        key = (recipe.name, recipe.version, recipe.backbone, recipe.image_size, recipe.batch_size)
        if key not in self.rates:
            rates = recipe_rates(recipe, self.opts.device, self.opts.threads, self.cache_root, force=self.opts.force)
            self.rates[key] = (recipe, rates)
        return self.rates[key][1]

    def notes(self) -> list[str]:
        """Where each training estimate comes from: the rate, the machine, and whether it was timed now."""
        out = []
        for recipe, r in self.rates.values():
            when = (f"timed {r.measured_at} and kept in the cache (--force times again)" if r.cached
                    else "timed now, kept in the cache for the next dry run")
            out.append(f"train: {recipe.name} ({recipe.backbone}, {recipe.image_size} px) at {r.train:.1f} images/s "
                       f"per training step, {r.forward:.1f} images/s forward, on {r.machine}: {when}")
        return out


def _generation_rate(cache: Cache, submission: str) -> tuple[float, str] | None:
    """(images/s, when) measured when this submission last generated a replica into this cache (None: never)."""
    measured = []
    for entry in (cache.root / "synthetic").glob("*/*"):
        if entry.name.startswith("."):
            continue
        meta = cache.meta("synthetic", entry.name)
        if meta.get("submission") == submission and isinstance(meta.get("generation"), dict):
            measured.append((meta["generation"].get("generated_at", ""), meta["generation"].get("images_per_second")))
    when, rate = max(measured) if measured else ("", None)
    return (float(rate), str(when)) if rate else None


def _estimate(job: Job, plan: Plan, rates: _Rates, generation_rate: tuple[float, str] | None) -> float | None:
    """CPU seconds of one uncached job, or None where nothing measured says how long it takes."""
    from cxrbench.baselines.classifier import get_recipe

    kw = job.kwargs
    if job.stage == "train":
        recipe = get_recipe(kw["recipe_name"], image_size=kw["image_size"])
        rate = rates(recipe)
        rows = len(kw["real_train"]) if kw.get("real_train") is not None else 0
        rows += sum(len(plan.jobs[k].kwargs["conditioning"]) for k in kw["synthetic_keys"])  # an image per row
        evals = sum(len(es) for es in kw["eval_sets"].values())
        return (recipe.epoch_images or rows) * recipe.max_epochs / rate.train + evals / rate.forward
    if job.stage == "generate" and generation_rate:
        return len(kw["conditioning"]) / generation_rate[0]
    if job.stage == "score":
        return 0.0  # from predictions already in memory: seconds
    return None


def describe(plan: Plan, cache: Cache, opts: RunOptions, submission: str) -> tuple[list[StagePlan], list[str]]:
    """Jobs, cached jobs and estimated CPU seconds per stage, in the order a task needs them; and
    where the estimates come from, one line per measured rate."""
    rates, generation_rate = _Rates(opts, cache.root), _generation_rate(cache, submission)
    stages = {s: StagePlan(s) for s in STAGES}
    for job in plan:
        st = stages[job.stage]
        st.jobs += 1
        if job.entry is not None and cache.has(job.entry, job.key):
            st.cached += 1
        elif (seconds := _estimate(job, plan, rates, generation_rate)) is None:
            st.unknown += 1
        else:
            st.cpu_seconds += seconds
    sources = rates.notes()
    if generation_rate and stages["generate"].cpu_seconds:
        sources.append(f"generate: {submission} at {generation_rate[0]:.1f} images/s, measured when it last "
                       f"generated into this cache ({generation_rate[1]})")
    return [s for s in stages.values() if s.jobs], sources


def dry_run(submission_dir: str | Path, tasks: list[str] | None, opts: RunOptions,
            console: Console | None = None) -> DryRun:
    """Validate and plan as `evaluate` would (nothing runs, nothing is written); the plan and its estimate."""
    from cxrbench.runner.evaluate import plan_tasks, prepare

    console = console or Console(stderr=True)
    sub, specs = prepare(submission_dir, tasks, opts, console)
    cache = Cache(opts.cache_root)
    plan, runs = plan_tasks(sub, specs, opts, cache, pixels=False)
    stages, sources = describe(plan, cache, opts, sub.name)
    out = DryRun(submission=f"{sub.name}@{sub.manifest.version}", budget=opts.budget,
                 tasks=[(run.task.name, run.error) for run in runs], stages=stages, sources=sources)
    for st in out.stages:
        if st.unknown and st.stage == "generate":
            out.notes.append(f"generate: {st.unknown} job(s) not estimated: {sub.name} has not generated into this "
                             f"cache yet (the first replica measures its rate)")
        elif st.unknown and st.stage == "predict":
            out.notes.append(f"predict: {st.unknown} job(s) not estimated: the submission's own code")
        elif st.unknown and st.stage == "audit":
            out.notes.append(f"audit: {st.unknown} job(s) not estimated")
    return out
