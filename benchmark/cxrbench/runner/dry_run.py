"""`cxrbench evaluate --dry-run`: check the submission, tasks and budget, and say what a run would do.

The plan is the one `evaluate` builds (the same job keys, so "cached" means exactly what a run
would reuse), from the tasks' rows only: no image is rendered or decoded and nothing runs. The
CPU time of each job still to run is estimated from the budget: a training run costs its
images × the recipe's epochs at the recipe's training-step rate, plus its eval images at the
recipe's forward rate, both timed here for a fraction of a second; a generation costs its
images at the rate measured when this submission last generated into the cache. What cannot be
estimated (a submission's own code on its first run, the audit) is said, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from cxrbench.runner.cache import Cache
from cxrbench.runner.options import RunOptions
from cxrbench.runner.plan import STAGES, Job, Plan


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
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_seconds(self) -> float:
        return sum(s.cpu_seconds for s in self.stages)


class _Rates:
    """Images per second of one recipe on the machine the dry run runs on (training step; forward pass), timed once."""

    def __init__(self, device: str):
        self.device = device
        self._rates: dict[tuple, tuple[float, float]] = {}

    def __call__(self, recipe) -> tuple[float, float]:
        key = (recipe.name, recipe.version, recipe.backbone, recipe.image_size, recipe.batch_size)
        if key not in self._rates:
            self._rates[key] = _time_recipe(recipe, self.device)
        return self._rates[key]


def _time_recipe(recipe, device: str) -> tuple[float, float]:
    import torch

    from cxrbench.baselines.classifier.backbones import create_backbone
    from cxrbench.baselines.classifier.throughput import images_per_second, train_step_fn

    train = images_per_second(train_step_fn(recipe, device=device), min_seconds=0.3, min_calls=2)
    model = create_backbone(recipe.backbone, 14, drop_rate=recipe.drop_rate).to(device).eval()
    x = torch.randn(recipe.batch_size, 1, recipe.image_size, recipe.image_size, device=device)

    @torch.inference_mode()
    def forward() -> int:
        model(x)
        return x.shape[0]

    return train, images_per_second(forward, min_seconds=0.2, min_calls=2)


def _generation_rate(cache: Cache, submission: str) -> float | None:
    """Images/s measured when this submission last generated a replica into this cache (None: never)."""
    measured = []
    for entry in (cache.root / "synthetic").glob("*/*"):
        if entry.name.startswith("."):
            continue
        meta = cache.meta("synthetic", entry.name)
        if meta.get("submission") == submission and isinstance(meta.get("generation"), dict):
            measured.append((meta["generation"].get("generated_at", ""), meta["generation"].get("images_per_second")))
    rate = max(measured)[1] if measured else None
    return float(rate) if rate else None


def _estimate(job: Job, plan: Plan, rates: _Rates, generation_rate: float | None) -> float | None:
    """CPU seconds of one uncached job, or None where nothing measured says how long it takes."""
    from cxrbench.baselines.classifier import get_recipe

    kw = job.kwargs
    if job.stage == "train":
        recipe = get_recipe(kw["recipe_name"], image_size=kw["image_size"])
        train_rate, forward_rate = rates(recipe)
        rows = len(kw["real_train"]) if kw.get("real_train") is not None else 0
        rows += sum(len(plan.jobs[k].kwargs["conditioning"]) for k in kw["synthetic_keys"])  # an image per row
        evals = sum(len(es) for es in kw["eval_sets"].values())
        return (recipe.epoch_images or rows) * recipe.max_epochs / train_rate + evals / forward_rate
    if job.stage == "generate" and generation_rate:
        return len(kw["conditioning"]) / generation_rate
    if job.stage == "score":
        return 0.0  # from predictions already in memory: seconds
    return None


def describe(plan: Plan, cache: Cache, opts: RunOptions, submission: str) -> list[StagePlan]:
    """Jobs, cached jobs and estimated CPU seconds per stage, in the order a task needs them."""
    rates, generation_rate = _Rates(opts.device), _generation_rate(cache, submission)
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
    return [s for s in stages.values() if s.jobs]


def dry_run(submission_dir: str | Path, tasks: list[str] | None, opts: RunOptions,
            console: Console | None = None) -> DryRun:
    """Validate and plan as `evaluate` would (nothing runs, nothing is written); the plan and its estimate."""
    from cxrbench.runner.evaluate import plan_tasks, prepare

    console = console or Console(stderr=True)
    sub, specs = prepare(submission_dir, tasks, opts, console)
    cache = Cache(opts.cache_root)
    plan, runs = plan_tasks(sub, specs, opts, cache, pixels=False)
    out = DryRun(submission=f"{sub.name}@{sub.manifest.version}", budget=opts.budget,
                 tasks=[(run.task.name, run.error) for run in runs],
                 stages=describe(plan, cache, opts, sub.name))
    for st in out.stages:
        if st.unknown and st.stage == "generate":
            out.notes.append(f"generate: {st.unknown} job(s) not estimated: {sub.name} has not generated into this "
                             f"cache yet (the first replica measures its rate)")
        elif st.unknown and st.stage == "predict":
            out.notes.append(f"predict: {st.unknown} job(s) not estimated: the submission's own code")
        elif st.unknown and st.stage == "audit":
            out.notes.append(f"audit: {st.unknown} job(s) not estimated")
    return out
