"""Planning one (task, submission): load the task's data and add the jobs it needs to a plan.

A `TaskRun` holds what one task of an evaluation needs: its budget, seeds, data and the keys of
the jobs it planned (a job's key is the cache key of the entry it writes, so jobs shared by tasks,
like the real-only baseline, run once). `cxrbench.runner.assembly` builds the record from those
jobs' cache entries once the executor has run them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import Progress

from cxrbench.errors import ConfigError, CxrbenchError, DataError
from cxrbench.results import StageTiming
from cxrbench.runner.cache import Cache, stable_hash
from cxrbench.runner.classify import fits_on, submitted_predictions
from cxrbench.runner.datasets import RealSet, load_eval_set, load_real_set
from cxrbench.runner.executors import run_plan
from cxrbench.runner.generate import synthesize
from cxrbench.runner.options import RunOptions
from cxrbench.runner.plan import Job, Plan, Resources
from cxrbench.submissions import Limits, Submission
from cxrbench.tasking import Budget, TaskSpec, get_task

# What a job writes to the cache, estimated from what the phantom's quick runs wrote (the
# free-space check before a run warns against their sum): per condition row besides its pixels
# (the requests table); per audited image, its pixel features (32 x 32 float32) and reference
# features; per predicted image besides 8 bytes a label (ids in parquet); the reference weights.
ROW_BYTES = 64
AUDIT_FEATURE_BYTES = (32 * 32 + 256) * 4
PREDICTION_ROW_BYTES = 40
WEIGHTS_BYTES = 2_000_000


@dataclass
class _Timer:
    timings: list[StageTiming] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[StageTiming]:
        start = time.perf_counter()
        entry = StageTiming(stage=name, seconds=0.0)
        self.timings.append(entry)
        yield entry
        entry.seconds = round(time.perf_counter() - start, 3)


class TaskRun:
    """Everything one (task, submission) needs: `plan()` adds its jobs to a plan;
    `cxrbench.runner.assembly.assemble` builds the record from their cache entries."""

    def __init__(self, sub: Submission, task: TaskSpec, opts: RunOptions, cache: Cache, progress: Progress | None = None,
                 *, pixels: bool = True):
        self.sub, self.task, self.opts, self.cache = sub, task, opts, cache
        self.pixels = pixels  # False: rows only (a dry run plans the same jobs without rendering an image)
        self.budget = smoke_budget(task.budget(opts.budget), opts.limit)
        self.seeds = list(opts.seeds or self.budget.seeds)
        #: the labels this run is scored on: the task's, or those of them a classifier predicts
        self.scored_labels: tuple[str, ...] = (sub.scored_labels(task.name, task.labels) if sub.kind == "classifier"
                                               else task.labels)
        self.timer = _Timer()
        self.store_root = cache.root / "images"
        self.audit_gallery: Path | None = None
        self.keys: dict[str, list[str]] = {}  # stage → this task's job keys
        self.labels: dict[str, str] = {}  # job key → what the job does (e.g. "train seed 1")
        self.entries: list[tuple[str, str]] = []  # (cache stage, key) of every entry its jobs publish
        self.replica_of: dict[str, int] = {}  # generate job key → its replica number
        self.error: str | None = None  # why planning failed
        self.audit_skipped: str | None = None
        self.fits = False  # a classifier the benchmark trains per seed (set by `plan`)
        # set by `plan()`: the task's data, and seed → (cache stage, key) of each arm's runs
        self.eval_sets: dict[str, RealSet] = {}  # sealed: as they may leave the scorer
        self.unsealed_eval_sets: dict[str, RealSet] = {}  # real ids, for the disjointness checks
        self.real_train: RealSet | None = None
        self.val: RealSet | None = None
        self.runs: dict[int, tuple[str, str]] = {}
        self.base_runs: dict[int, tuple[str, str]] = {}

    def limits(self, timeout_s: float) -> Limits:
        return Limits(timeout_s=timeout_s, memory_gb=self.budget.memory_limit_gb, threads=self.opts.threads,
                      sandboxed=not self.opts.unsafe_no_sandbox)

    def isolation(self) -> dict:
        from cxrbench.submissions.sandbox import isolation

        if self.sub.manifest.precomputed or (self.sub.kind == "generator" and not self.task.uses_generator):
            return {"mode": "no submission code"}
        b = self.budget
        timeout = b.generator_timeout_s if self.sub.kind == "generator" else b.classifier_timeout_s
        return isolation(self.limits(timeout), self.opts.device)

    def _real(self, ref, max_images=None) -> RealSet:
        return load_real_set(ref, self.budget, self.store_root, max_images=max_images, pixels=self.pixels)

    def _job(self, plan: Plan, key: str, stage: str, entry: str | None, what: str, fn, kwargs: dict,
             deps: tuple[str, ...] = (), after: tuple[str, ...] = (), estimate: int = 0) -> str:
        """Add one job (`estimate`: bytes it writes to the cache; `after`: see `Job.after`); a job that
        publishes a cache entry is handed its key (`key=`), so it never computes it again."""
        on_gpu = self.opts.device.startswith("cuda") and stage != "score"
        if entry is not None:
            kwargs = {**kwargs, "key": key}
        sandboxed = stage in ("generate", "predict") and self.sub.entry_point is not None \
            and not self.opts.unsafe_no_sandbox
        plan.add(Job(key=key, stage=stage, entry=entry, label=f"{self.task.name} · {stage} {what}", fn=fn,
                     kwargs=kwargs, deps=deps, after=after, resources=Resources(num_cpus=self.opts.threads or 1,
                                                                  num_gpus=1 if on_gpu else 0),
                     threads=self.opts.threads or 1, estimate=estimate, sandboxed=sandboxed))
        self.keys.setdefault(stage, []).append(key)
        self.labels[key] = f"{stage} {what}".strip()
        if entry is not None:
            self.entries.append((entry, key))
        return key

    def plan_generate(self, plan: Plan, conditioning: RealSet, replicas: list[int] | None = None) -> dict[int, str]:
        """One job per replica (a rerun resumes a replica's finished shards): replica → key.
        `replicas`: default, every replica this run's seeds train on."""
        from cxrbench.runner.generate import replica_key

        task, b = self.task, self.budget
        keys = {}
        for r in (task.replicas_for_seeds(self.seeds) if replicas is None else replicas):
            key = replica_key(self.sub, conditioning, r, b.image_size, task.generation_seed, self.cache)
            keys[r] = self._job(plan, key, "generate", "synthetic", f"replica {r}", synthesize, dict(
                submission=self.sub, conditioning=conditioning, replica=r, size=b.image_size,
                generation_seed=task.generation_seed, limits=self.limits(b.generator_timeout_s),
                device=self.opts.device, denied=(self.opts.out_dir.resolve(),)),
                estimate=len(conditioning) * (b.image_size ** 2 + ROW_BYTES))
            self.replica_of[key] = r
        return keys

    def plan_audit(self, plan: Plan, replica_key: str, conditioning: RealSet, eval_sets: dict[str, RealSet]) -> None:
        """The generator audit of the first replica; skipped (with the reason) where its feature space has
        no weights, or the profile no default space."""
        from cxrbench.runner import jobs
        from cxrbench.runner.audit_stage import audit_key

        features, weights = self.opts.audit_features, self.opts.feature_weights
        try:
            key = audit_key(self.cache, replica_key, conditioning, eval_sets, self.task.profile, features, weights)
        except ConfigError as exc:
            self.audit_skipped = str(exc)
            return
        self._job(plan, key, "audit", "audit", "replica 0", jobs.audit, dict(
            replica_key=replica_key, conditioning=conditioning, eval_sets=eval_sets, profile=self.task.profile,
            device=self.opts.device, features=features, feature_weights=weights), deps=(replica_key,),
            estimate=(2 * len(conditioning) + sum(map(len, eval_sets.values()))) * AUDIT_FEATURE_BYTES)

    def generate(self, conditioning: RealSet) -> list:
        """The replicas the first seed trains on, generated here (`cxrbench audit`)."""
        from cxrbench.runner.generate import load_replica

        plan = Plan()
        keys = self.plan_generate(plan, conditioning, self.task.replicas_for_seed(self.seeds[0]))
        _run_here(plan, self.cache)
        return [load_replica(self.cache, k, r) for r, k in keys.items()]

    def audit(self, replica, conditioning: RealSet, eval_sets: dict[str, RealSet]) -> dict:
        """The audit of `replica`, run here (`cxrbench audit`)."""
        plan = Plan()
        plan.add(Job(key=replica.key, stage="generate", entry="synthetic", label="replica", fn=_noop, kwargs={}))
        self.audit_skipped = None
        self.plan_audit(plan, replica.key, conditioning, eval_sets)
        _run_here(plan, self.cache)
        from cxrbench.runner.assembly import audit_report

        return audit_report(self)

    def data(self) -> tuple[RealSet | None, RealSet, dict[str, RealSet], np.ndarray]:
        """The task's real training rows, validation set and eval sets (checked disjoint by patient),
        and the eval image ids that no training input may be. Eval sets come from the run's
        population (`cxrbench.trust.populations`), sealed (held-out: opaque ids) once checked."""
        task, b, population = self.task, self.budget, self.opts.population
        population.check_task(task.name, task.eval_sets)
        real_train = self._real(task.real_train, b.max_train_images) if task.real_train else None
        val = self._real(task.val, b.max_val_images)
        eval_sets = {name: load_eval_set(name, ref, b, self.store_root, population, pixels=self.pixels)
                     for name, ref in task.eval_sets.items()}
        _check_disjoint(real_train, val, eval_sets)
        self.unsealed_eval_sets = eval_sets  # real ids: what the generator's conditioning rows are checked against
        forbidden = np.concatenate([es.rows["image_id"].astype(str).to_numpy() for es in eval_sets.values()])
        return real_train, val, {name: population.seal(es) for name, es in eval_sets.items()}, forbidden

    def common(self, val: RealSet, eval_sets: dict[str, RealSet], forbidden: np.ndarray) -> dict:
        """The arguments every reference-recipe run of this task shares (`reference_run(**common, ...)`)."""
        b = self.budget
        return dict(val=val, eval_sets=eval_sets, labels=self.task.labels, recipe_name=b.recipe,
                    image_size=b.image_size, train_uncertainty=self.task.train_uncertainty, cache=self.cache,
                    forbidden_ids=forbidden, device=self.opts.device)

    def plan(self, plan: Plan) -> None:
        """Load the task's data (timed as the `data` stage) and add every job it needs to `plan`."""
        task, b = self.task, self.budget
        with self.timer.stage("data"):
            real_train, val, eval_sets, _ = self.data()
        self.eval_sets, self.real_train, self.val = eval_sets, real_train, val
        replica_keys: dict[int, str] = {}
        self.audit_skipped = None
        if self.sub.kind == "generator" and task.uses_generator:
            conditioning = self._real(task.conditions_from, b.max_train_images)
            _check_disjoint(conditioning, None, self.unsealed_eval_sets)
            self.check_prompt_table(conditioning)
            replica_keys = self.plan_generate(plan, conditioning)
            self.plan_audit(plan, replica_keys[min(replica_keys)], conditioning, eval_sets)
        baseline = get_task(task.baseline) if task.baseline else None
        base_train = None
        if baseline is not None and baseline.real_train is not None:
            base_train = self._real(baseline.real_train, b.max_train_images)
        self.runs, self.base_runs = {}, {}
        if self.sub.kind == "classifier":
            # a fitted classifier is trained on every seed of the recipe it is compared with; a frozen one is one model
            self.fits = fits_on(self.sub, real_train)
            for seed in (self.seeds if self.fits else [0]):
                self.runs[seed] = ("submitted-predictions", self.plan_submitted(plan, real_train, seed))
            base_train = real_train
        else:
            for seed in self.seeds:
                synthetic = [replica_keys[r] for r in task.replicas_for_seed(seed)] if replica_keys else []
                self.runs[seed] = ("classifier-run", self.plan_reference_run(
                    plan, real_train, seed, synthetic, replicas_of_real=task.family == "supplement"))
        if baseline is not None or self.sub.kind == "classifier":
            for seed in self.seeds:
                # a generator task's baseline waits for its first synthetic replica (`Job.after`)
                self.base_runs[seed] = ("classifier-run", self.plan_reference_run(
                    plan, base_train, seed, [], baseline=True, after=tuple(replica_keys.values())))
        self.plan_score(plan)

    def check_prompt_table(self, conditioning: RealSet) -> None:
        """A precomputed table matched by prompt (`key: prompt`) must read at least one request's prompt:
        refused here, before any job of the task runs, naming the template it seems to use."""
        pre = self.sub.manifest.precomputed
        if pre is None or pre.table is None or pre.key != "prompt":
            return
        from cxrbench.runner.generate import requests_for
        from cxrbench.submissions.manifest import MANIFEST
        from cxrbench.submissions.synthetic_table import check_prompts_match

        replica = self.task.replicas_for_seed(self.seeds[0])[0]
        check_prompts_match(self.sub.root, pre, requests_for(conditioning, replica, self.task.generation_seed),
                            self.sub.root / MANIFEST)

    def plan_submitted(self, plan: Plan, real_train: RealSet | None, seed: int = 0) -> str:
        """The job of a classifier submission's predictions (fitted on `real_train` with `seed` if it fits)."""
        from cxrbench.baselines.classifier import get_recipe
        from cxrbench.runner.classify import submitted_key

        task, b = self.task, self.budget
        if self.opts.population.held_out and self.sub.manifest.precomputed:
            raise ConfigError(f"{self.sub.name} is a precomputed predictions file: held-out eval images are never "
                              f"published, so only a classifier's code can score them (evaluate without an "
                              f"evaluator key for the dev sets)")
        inputs = dict(submission=self.sub, real_train=real_train, eval_sets=self.eval_sets, labels=self.scored_labels,
                      train_uncertainty=task.train_uncertainty, recipe=get_recipe(b.recipe, image_size=b.image_size),
                      seed=seed)
        return self._job(plan, submitted_key(self.cache, **inputs), "predict", "submitted-predictions",
                         f"submission seed {seed}" if self.fits else "submission",
                         submitted_predictions, dict(limits=self.limits(b.classifier_timeout_s), device=self.opts.device,
                                                     denied=(self.opts.out_dir.resolve(),),
                                                     pooled=self.opts.population.held_out, **inputs),
                         estimate=self._predictions_bytes())

    def plan_reference_run(self, plan: Plan, real_train: RealSet | None, seed: int, synthetic: list[str], *,
                           replicas_of_real: bool = False, baseline: bool = False,
                           after: tuple[str, ...] = ()) -> str:
        """The job of one reference-recipe run: `real_train` plus the `synthetic` replicas (keys), one seed.
        Its eval sets' image ids, which no training input may be, are taken from the eval sets themselves."""
        from cxrbench.runner import jobs
        from cxrbench.runner.classify import run_key

        task, b = self.task, self.budget
        assert self.val is not None, "plan_reference_run before the task's data was loaded"
        inputs = dict(real_train=real_train, val=self.val, eval_sets=self.eval_sets, labels=task.labels,
                      recipe_name=b.recipe, image_size=b.image_size, seed=seed, train_uncertainty=task.train_uncertainty)
        key = run_key(self.cache, synthetic_keys=synthetic, **inputs)
        what = f"seed {seed} (real-only baseline)" if baseline else f"seed {seed}"
        replicas = task.replicas_for_seed(seed) if synthetic else []
        return self._job(plan, key, "train", "classifier-run", what, jobs.train,
                         dict(synthetic_keys=synthetic, synthetic_replicas=replicas, replicas_of_real=replicas_of_real,
                              device=self.opts.device, **inputs), deps=tuple(synthetic), after=after,
                         estimate=self._predictions_bytes() + WEIGHTS_BYTES)

    def _predictions_bytes(self) -> int:
        return sum(map(len, self.eval_sets.values())) * (PREDICTION_ROW_BYTES + 8 * len(self.task.labels))

    def plan_score(self, plan: Plan) -> None:
        """The score job: every number of the record from the finished runs of both arms."""
        from cxrbench.runner import jobs
        from cxrbench.runner.score_inputs import against_for

        task = self.task
        against = against_for(task, self.budget, self.sub.kind)
        deps = tuple(k for _, k in (*self.runs.values(), *self.base_runs.values()))
        key = stable_hash({"score": task.sha256(), "runs": deps, "against": against})
        self._job(plan, key, "score", None, "", jobs.score, dict(
            eval_sets=self.eval_sets, labels=self.scored_labels, runs=self.runs, base_runs=self.base_runs, against=against,
            primary_eval_set=task.primary.eval_set, eligibility=task.eligibility,
            fixed_submission=self.sub.kind == "classifier" and not self.fits), deps=deps)

    def job_keys(self) -> list[str]:
        return [k for keys in self.keys.values() for k in keys]


def smoke_budget(budget: Budget, limit: int | None) -> Budget:
    """`budget` with every set capped at `limit` images, whole patients (`--limit`; None: as it is)."""
    if limit is None:
        return budget
    caps = {f: min(limit, getattr(budget, f) or limit) for f in ("max_train_images", "max_val_images", "max_eval_images")}
    return budget.model_copy(update=caps)


def _noop(**_) -> None:
    """A job that is already done (its entry exists): stands in for a dependency in a small plan."""


def _run_here(plan: Plan, cache: Cache) -> None:
    """Run a small plan in this process; the first failure is raised."""
    from cxrbench.runner.executors.local import LocalExecutor

    with LocalExecutor() as executor:
        outcomes = run_plan(plan, executor, cache)
    for outcome in outcomes.values():
        if outcome.error:
            raise CxrbenchError(outcome.error)


def _check_disjoint(train: RealSet | None, val: RealSet | None, eval_sets: dict[str, RealSet]) -> None:
    """No patient of a test set may appear in training or validation data (same source)."""
    for part_name, part in (("training", train), ("validation", val)):
        if part is None:
            continue
        patients = set(part.rows["patient_id"].astype(str).unique().tolist())  # lists: not arrow scalars
        for name, es in eval_sets.items():
            if es.ref.source != part.ref.source:
                continue
            shared = patients & set(es.rows["patient_id"].astype(str).unique().tolist())
            if shared:
                raise DataError(f"{len(shared)} patient(s) of eval set {name} are in the {part_name} data "
                                f"(e.g. {sorted(shared)[0]}): the split is not patient-level")
