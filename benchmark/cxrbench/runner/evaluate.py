"""`evaluate`: one submission over tasks, generate → train → predict → score, with caching.

Plan → executor → assemble: each task adds its jobs to one plan (`cxrbench.runner.plan`; a job's
key is the cache key of the entry it writes, so jobs shared by tasks, like the real-only
baseline, run once), an executor runs the plan (`local` here, or `ray`), and each task's
record is assembled from the cache as soon as its last job has finished.

Each task runs on its own: a failure (bad data, a submission that crashes, hangs or returns
garbage) becomes a `failed` record naming the problem, and the next task still runs. Every stage
is cached by a hash of its inputs and written atomically, so a rerun after a crash or `kill -9`
resumes where it stopped and produces the same record.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from cxrbench.version import __version__
from cxrbench.errors import ConfigError, CxrbenchError, DataError
from cxrbench.results import Environment, ResultRecord, StageTiming, SubmissionRef, TaskRef
from cxrbench.runner.cache import Cache, stable_hash
from cxrbench.runner.classify import fits_on, submitted_predictions
from cxrbench.runner.executors import Event, Outcome, get_executor, run_plan
from cxrbench.runner.plan import Job, Plan, Resources
from cxrbench.runner.progress import PlanProgress
from cxrbench.runner.records import copy_gallery, prediction_table, record_path, write_outputs  # noqa: F401 (record_path: public here)
from cxrbench.runner.datasets import RealSet, load_real_set, pixel_fingerprint, task_refs
from cxrbench.runner.generate import synthesize
from cxrbench.submissions import Limits, Submission, load_submission
from cxrbench.tasking import Budget, TaskSpec, default_tasks, get_task, kind_mismatch


@dataclass
class RunOptions:
    budget: str = "quick"
    seeds: list[int] | None = None
    out_dir: Path = Path("runs")
    cache_root: Path | None = None
    force: bool = False
    device: str = "cpu"
    profile: str = "phantom"
    #: CPU threads for training and for submissions' processes. On a CPU one thread is the default:
    #: a second one makes these small models 5-10x slower whenever anything else runs (measured).
    threads: int | None = 1
    #: reference-recipe runs trained at once, each in its own process (`threads` threads each); the
    #: predictions are the same for any value (each run is seeded and single-process)
    jobs: int = 1
    #: run submission code without bubblewrap (`--unsafe-no-sandbox`); records say "isolation: none"
    unsafe_no_sandbox: bool = False
    #: who runs the plan's jobs: `local` (this process, `jobs` training processes) or `ray`
    executor: str = "local"
    #: Ray cluster to join (`auto`, HOST:PORT); None starts a local Ray instance of `ray_workers` CPUs (0 = all)
    address: str | None = None
    ray_workers: int = 0


@dataclass
class TaskOutcome:
    record: ResultRecord
    path: Path
    spec: TaskSpec | None = None


@dataclass
class _Timer:
    timings: list[StageTiming] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        entry = StageTiming(stage=name, seconds=0.0)
        self.timings.append(entry)
        yield entry
        entry.seconds = round(time.perf_counter() - start, 3)


def environment(isolation: dict | None = None) -> Environment:
    """Versions and hardware that produced a record, and how submission code was isolated."""
    libs = {}
    for name in ("torch", "timm", "diffusers", "numpy", "pandas", "scipy", "torchmetrics"):
        try:
            libs[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 - a missing optional library is simply not recorded
            continue
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        sha = None
    hardware: dict = {"machine": platform.machine(), "cpus": __import__("os").cpu_count()}
    try:
        import torch

        hardware["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            hardware["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001
        pass
    return Environment(cxrbench_version=__version__, git_sha=sha, python=sys.version.split()[0],
                       platform=platform.platform(), libraries=libs, hardware=hardware, isolation=isolation or {})


def _task_ref(task: TaskSpec, budget_name: str, budget: Budget) -> TaskRef:
    from cxrbench.baselines.classifier import get_recipe

    recipe = get_recipe(budget.recipe, image_size=budget.image_size)
    return TaskRef(name=task.name, version=task.version, family=task.family, profile=task.profile,
                   budget=budget_name, supplement_ratio=task.supplement_ratio, label_set=task.label_set,
                   labels=list(task.labels), uncertainty_policy=task.scoring_uncertainty,
                   image_size=budget.image_size, recipe=f"{recipe.name}@{recipe.version}",
                   baseline=task.baseline, spec_sha256=task.sha256())


def _allowed_training_data(task: TaskSpec, kind: str) -> list[str]:
    if kind == "generator":
        return [task.conditions_from.key] if task.conditions_from else []
    return [task.real_train.key] if task.real_train else []


def _submission_ref(sub: Submission, task: TaskSpec, fits: bool = False) -> SubmissionRef:
    m = sub.manifest
    allowed = _allowed_training_data(task, m.kind)
    outside = [d for d in m.training_data if d not in allowed]
    return SubmissionRef(
        name=m.name, version=m.version, kind=m.kind, sha256=sub.sha256(), authors=m.authors, license=m.license,
        declared_training_data=m.training_data, training_data_within_bounds=not outside, description=m.description,
        paper=m.paper, links=m.links, parameters=sub.parameters, parameter_files=sub.parameter_files, fits=fits,
        bounds_note=(f"declares training data outside this task's bounds: {', '.join(outside)} "
                     f"(allowed: {', '.join(allowed) or 'none'})") if outside else None)


class TaskRun:
    """Everything one (task, submission) needs: `plan()` adds its jobs to a plan, `assemble()`
    builds the record from their cache entries once the executor has run them."""

    def __init__(self, sub: Submission, task: TaskSpec, opts: RunOptions, cache: Cache, progress: Progress | None = None):
        self.sub, self.task, self.opts, self.cache = sub, task, opts, cache
        self.budget = task.budget(opts.budget)
        self.seeds = list(opts.seeds or self.budget.seeds)
        self.timer = _Timer()
        self.store_root = cache.root / "images"
        self.audit_gallery: Path | None = None
        self.keys: dict[str, list[str]] = {}  # stage → this task's job keys
        self.replica_of: dict[str, int] = {}  # generate job key → its replica number
        self.error: str | None = None  # why planning failed
        self.audit_skipped: str | None = None
        self.fits = False  # a classifier the benchmark trains per seed (set by `plan`)

    def limits(self, timeout_s: float) -> Limits:
        return Limits(timeout_s=timeout_s, memory_gb=self.budget.memory_limit_gb, threads=self.opts.threads,
                      sandboxed=not self.opts.unsafe_no_sandbox)

    def isolation(self) -> dict:
        from cxrbench.submissions.sandbox import isolation

        if self.sub.manifest.precomputed or (self.sub.kind == "generator" and not self.task.uses_generator):
            return {"mode": "no submission code"}
        return isolation(self.limits(0), self.opts.device)

    def _real(self, ref, max_images=None, eval_set: str | None = None) -> RealSet:
        budget = self.budget.for_eval_set(eval_set) if eval_set else self.budget
        return load_real_set(ref, budget, self.store_root, max_images=max_images)

    def _job(self, plan: Plan, key: str, stage: str, entry: str | None, what: str, fn, kwargs: dict,
             deps: tuple[str, ...] = ()) -> str:
        on_gpu = self.opts.device.startswith("cuda") and stage != "score"
        plan.add(Job(key=key, stage=stage, entry=entry, label=f"{self.task.name} · {stage} {what}", fn=fn,
                     kwargs=kwargs, deps=deps, resources=Resources(num_cpus=self.opts.threads or 1,
                                                                  num_gpus=1 if on_gpu else 0),
                     threads=self.opts.threads or 1))
        self.keys.setdefault(stage, []).append(key)
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
                device=self.opts.device, denied=(self.opts.out_dir.resolve(),)))
            self.replica_of[key] = r
        return keys

    def plan_audit(self, plan: Plan, replica_key: str, conditioning: RealSet, eval_sets: dict[str, RealSet]) -> None:
        """The generator audit of the first replica; skipped (with the reason) where no reference space ships."""
        from cxrbench.runner import jobs
        from cxrbench.runner.audit_stage import audit_key

        try:
            key = audit_key(self.cache, replica_key, conditioning, eval_sets, self.task.profile)
        except ConfigError as exc:
            self.audit_skipped = str(exc)
            return
        self._job(plan, key, "audit", "audit", "replica 0", jobs.audit, dict(
            replica_key=replica_key, conditioning=conditioning, eval_sets=eval_sets, profile=self.task.profile,
            device=self.opts.device), deps=(replica_key,))

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
        return self._audit_report()

    def _audit_report(self) -> dict | None:
        if getattr(self, "audit_skipped", None):
            return {"skipped": self.audit_skipped}
        if not self.keys.get("audit"):
            return None
        entry = self.cache.path("audit", self.keys["audit"][0])
        self.audit_gallery = entry / "gallery"
        return json.loads((entry / "report.json").read_text())

    def data(self) -> tuple[RealSet | None, RealSet, dict[str, RealSet], np.ndarray]:
        """The task's real training rows, validation set and eval sets (checked disjoint by patient),
        and the eval image ids that no training input may be."""
        task, b = self.task, self.budget
        real_train = self._real(task.real_train, b.max_train_images) if task.real_train else None
        val = self._real(task.val, b.max_val_images)
        eval_sets = {name: self._real(ref, b.max_eval_images, name) for name, ref in task.eval_sets.items()}
        _check_disjoint(real_train, val, eval_sets)
        forbidden = np.concatenate([es.rows["image_id"].astype(str).to_numpy() for es in eval_sets.values()])
        return real_train, val, eval_sets, forbidden

    def common(self, val: RealSet, eval_sets: dict[str, RealSet], forbidden: np.ndarray) -> dict:
        """The arguments every reference-recipe run of this task shares (`reference_run(**common, ...)`)."""
        b = self.budget
        return dict(val=val, eval_sets=eval_sets, labels=self.task.labels, recipe_name=b.recipe,
                    image_size=b.image_size, train_uncertainty=self.task.train_uncertainty, cache=self.cache,
                    forbidden_ids=forbidden, device=self.opts.device)

    def plan(self, plan: Plan) -> None:
        """Load the task's data (timed as the `data` stage) and add every job it needs to `plan`."""
        from cxrbench.runner import jobs
        from cxrbench.runner.classify import run_key, submitted_key
        from cxrbench.runner.score_inputs import against_for

        task, b = self.task, self.budget
        with self.timer.stage("data"):
            real_train, val, eval_sets, forbidden = self.data()
        self.eval_sets, self.real_train, self.val = eval_sets, real_train, val
        replica_keys: dict[int, str] = {}
        self.audit_skipped = None
        if self.sub.kind == "generator" and task.uses_generator:
            conditioning = self._real(task.conditions_from, b.max_train_images)
            _check_disjoint(conditioning, None, eval_sets)
            replica_keys = self.plan_generate(plan, conditioning)
            self.plan_audit(plan, replica_keys[min(replica_keys)], conditioning, eval_sets)

        def synthetic_for(seed: int) -> list[str]:
            return [replica_keys[r] for r in task.replicas_for_seed(seed)] if replica_keys else []

        common = self.common(val, eval_sets, forbidden)
        del common["cache"]
        baseline = get_task(task.baseline) if task.baseline else None
        base_train = None
        if baseline is not None:
            base_train = self._real(baseline.real_train, b.max_train_images) if baseline.real_train else None
        self.runs: dict[int, tuple[str, str]] = {}
        self.base_runs: dict[int, tuple[str, str]] = {}
        if self.sub.kind == "classifier":
            from cxrbench.baselines.classifier import get_recipe

            kwargs = dict(submission=self.sub, real_train=real_train, eval_sets=eval_sets, labels=task.labels,
                          limits=self.limits(b.classifier_timeout_s), device=self.opts.device,
                          denied=(self.opts.out_dir.resolve(),), train_uncertainty=task.train_uncertainty,
                          recipe=get_recipe(b.recipe, image_size=b.image_size))
            # a fitted classifier is trained on every seed of the recipe it is compared with; a frozen one is one model
            for seed in (self.seeds if fits_on(self.sub, real_train) else [0]):
                seeded = dict(kwargs, seed=seed)
                self.runs[seed] = ("submitted-predictions", self._job(
                    plan, submitted_key(self.cache, **seeded), "predict", "submitted-predictions",
                    f"submission seed {seed}", submitted_predictions, seeded))
            base_train = real_train
        else:
            for seed in self.seeds:
                run = dict(real_train=real_train, seed=seed, replicas_of_real=task.family == "supplement", **common)
                synthetic = synthetic_for(seed)
                key = run_key(self.cache, synthetic_keys=synthetic, **run)
                self.runs[seed] = ("classifier-run", self._job(
                    plan, key, "train", "classifier-run", f"seed {seed}", jobs.train,
                    dict(synthetic_keys=synthetic, synthetic_replicas=task.replicas_for_seed(seed) if synthetic else [],
                         **run), deps=tuple(synthetic)))
        if baseline is not None or self.sub.kind == "classifier":
            for seed in self.seeds:
                run = dict(real_train=base_train, seed=seed, **common)
                key = run_key(self.cache, synthetic_keys=[], **run)
                self.base_runs[seed] = ("classifier-run", self._job(
                    plan, key, "train", "classifier-run", f"seed {seed} (real-only baseline)", jobs.train,
                    dict(synthetic_keys=[], **run)))
        labels_only = {name: jobs.without_pixels(es) for name, es in eval_sets.items()}
        self.fits = self.sub.kind == "classifier" and fits_on(self.sub, real_train)
        score_kwargs = dict(eval_sets=labels_only, labels=task.labels, runs=self.runs, base_runs=self.base_runs,
                            against=against_for(task, b, self.sub.kind), primary_eval_set=task.primary.eval_set,
                            eligibility=task.eligibility,
                            fixed_submission=self.sub.kind == "classifier" and not self.fits)
        deps = tuple(k for _, k in (*self.runs.values(), *self.base_runs.values()))
        score_key = stable_hash({"score": task.sha256(), "runs": deps, "against": score_kwargs["against"]})
        self._job(plan, score_key, "score", None, "", jobs.score, score_kwargs, deps=deps)

    def _generation_runs(self, outcomes: dict[str, Outcome]) -> list:
        """The measured cost of each replica this task trained on (reused: its job was a cache hit)."""
        from cxrbench.runner.generate import _measured

        runs = [_measured(self.cache.meta("synthetic", key), self.replica_of[key], outcomes[key].cached)
                for key in self.keys.get("generate", [])]
        return [g for g in runs if g is not None]

    def job_keys(self) -> list[str]:
        return [k for keys in self.keys.values() for k in keys]

    def assemble(self, outcomes: dict[str, Outcome]) -> tuple[ResultRecord, pd.DataFrame]:
        """The record and predictions table from the finished jobs (CxrbenchError: the first failure)."""
        from cxrbench.runner.classify import load_predictions

        task, b = self.task, self.budget
        for key in self.job_keys():
            if outcomes[key].error:
                raise CxrbenchError(outcomes[key].error)
        for stage, name in (("generate", "generate"), ("audit", "audit"), ("train+predict", None), ("score", "score")):
            keys = self.keys.get(name, []) if name else [*self.keys.get("predict", []), *self.keys.get("train", [])]
            if keys:
                self.timer.timings.append(StageTiming(stage=stage, seconds=round(sum(outcomes[k].seconds for k in keys), 3),
                                                      cached=all(outcomes[k].cached for k in keys)))
        audit_report = self._audit_report()
        scored = outcomes[self.keys["score"][0]].value
        eval_sets = self.eval_sets

        def load(entries):
            return {s: load_predictions(self.cache, stage, key, eval_sets, task.labels).by_eval_set
                    for s, (stage, key) in entries.items()}

        preds, base_preds = load(self.runs), load(self.base_runs)
        fingerprints = {f"{name}": es.fingerprint for name, es in eval_sets.items()}
        fingerprints["val"] = self.val.fingerprint
        if self.real_train is not None:
            fingerprints["real_train"] = self.real_train.fingerprint
        pixels = pixel_fingerprint(task_refs(task), b)
        if pixels is not None:
            fingerprints["pixels"] = pixels
        record = ResultRecord(
            status="complete", task=_task_ref(task, self.opts.budget, b),
            submission=_submission_ref(self.sub, task, fits=self.fits),
            split_fingerprints=fingerprints, seeds=sorted(preds), environment=environment(self.isolation()),
            eval_sets=scored.eval_sets, comparisons=scored.comparisons, subgroups=scored.subgroups,
            subgroup_summaries=scored.subgroup_summaries, audit=audit_report, timings=self.timer.timings,
            generation=self._generation_runs(outcomes))
        if audit_report and audit_report.get("leakage_flag"):
            record.status = "failed"
            record.errors.append("test leakage: synthetic images near-duplicate test images (see audit.leakage); "
                                 "a generator that reproduces test images cannot be scored")
        return record, prediction_table(eval_sets, preds, base_preds, task.labels)


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
        patients = set(part.rows["patient_id"].astype(str))
        for name, es in eval_sets.items():
            if es.ref.source != part.ref.source:
                continue
            shared = patients & set(es.rows["patient_id"].astype(str))
            if shared:
                raise DataError(f"{len(shared)} patient(s) of eval set {name} are in the {part_name} data "
                                f"(e.g. {sorted(shared)[0]}): the split is not patient-level")


def _failed_record(run: TaskRun, error: str) -> ResultRecord:
    sub, task, opts = run.sub, run.task, run.opts
    b = task.budgets.get(opts.budget) or next(iter(task.budgets.values()))
    return ResultRecord(status="failed", task=_task_ref(task, opts.budget, b), submission=_submission_ref(sub, task),
                        split_fingerprints={}, seeds=list(opts.seeds or b.seeds), environment=environment(run.isolation()),
                        timings=run.timer.timings, errors=[error])


def evaluate(submission_dir: str | Path, tasks: list[str] | None = None, opts: RunOptions | None = None,
             console: Console | None = None) -> list[TaskOutcome]:
    """Run a submission over tasks (default: its kind's tasks at the budget); write and return records."""
    opts = opts or RunOptions()
    console = console or Console(stderr=True)
    sub = load_submission(submission_dir)
    specs = [get_task(t) for t in tasks] if tasks else default_tasks(sub.kind, opts.profile, opts.budget)
    for spec in specs:
        if (why := kind_mismatch(sub.kind, spec)) is not None:
            raise ConfigError(f"{sub.name} is a {sub.kind}: {why}")
        sub.check_task_labels(spec.name, spec.labels)
    if sub.entry_point and not opts.unsafe_no_sandbox:  # own code or a diffusers/timm adapter
        from cxrbench.submissions.bwrap import unavailable_reason

        if (why := unavailable_reason()) is not None:
            raise ConfigError(f"{why}. Submission code runs only under bubblewrap; install it (`make sandbox`, "
                              f"or apt-get install bubblewrap), or pass --unsafe-no-sandbox to run it without "
                              f"isolation (the records then say so and the leaderboard marks them)")
    if sub.manifest.entry_point and opts.unsafe_no_sandbox:
        console.print("[bold red]WARNING: --unsafe-no-sandbox: submission code runs WITHOUT isolation. It can read "
                      "and change anything this user can (the cache, other results, your files). Records say "
                      "`isolation: none` and the leaderboard marks them.[/]")
    if not specs:
        raise CxrbenchError(f"no {opts.profile} tasks with a {opts.budget!r} budget for a {sub.kind} submission")
    if (warning := few_seeds_warning(sub, specs, opts)) is not None:
        console.print(f"[bold yellow]WARNING: {escape(warning)}[/]")
    # Baselines first, so their (shared, cached) runs come before the tasks that compare with them.
    specs.sort(key=lambda s: (s.supplement_ratio, s.name))
    executor = get_executor(opts.executor, workers=opts.jobs if opts.executor == "local" else opts.ray_workers,
                            threads=opts.threads or 1, device=opts.device, address=opts.address)
    outcomes: list[TaskOutcome] = []
    with executor:  # connects first: an unreachable cluster fails before anything is computed or written
        cache = Cache(opts.cache_root, force=opts.force,
                      report=lambda msg: console.print(f"[bold yellow]{escape(msg)}[/]"))
        if opts.threads and opts.device == "cpu":
            import torch

            torch.set_num_threads(opts.threads)
        plan, runs = Plan(), []
        for spec in specs:
            run = TaskRun(sub, spec, opts, cache)
            try:
                run.plan(plan)
            except CxrbenchError as exc:
                run.error = str(exc)
            runs.append(run)
        finished: dict[str, Outcome] = {}
        written: set[int] = set()

        def write_ready() -> None:
            """Write each task's record as soon as its last job finished (a long plan keeps them coming)."""
            for i, run in enumerate(runs):
                if i not in written and (run.error is not None or all(k in finished for k in run.job_keys())):
                    written.add(i)
                    outcomes.append(_finish(run, finished, console))

        view = PlanProgress(plan, console, title=f"{sub.name} · {len(specs)} task(s) · {executor.name}")

        def on_event(event: Event) -> None:
            view(event)
            if event.outcome is not None:
                finished[event.job.key] = event.outcome
                write_ready()

        with view:
            write_ready()  # tasks that failed while planning
            run_plan(plan, executor, cache, on_event=on_event)
    order = {id(r.task): i for i, r in enumerate(runs)}
    return sorted(outcomes, key=lambda o: order[id(o.spec)])


def few_seeds_warning(sub: Submission, specs: list[TaskSpec], opts: RunOptions) -> str | None:
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


def _finish(run: TaskRun, finished: dict[str, Outcome], console: Console) -> TaskOutcome:
    """Assemble, write and report one task's record (a failure becomes a failed record)."""
    spec = run.task
    try:
        if run.error is not None:
            raise CxrbenchError(run.error)
        record, predictions = run.assemble(finished)
    except CxrbenchError as exc:
        console.print(f"[bold red]{spec.name}: failed:[/] {escape(str(exc))}")
        run.cache.discard_partials()
        record, predictions = _failed_record(run, str(exc)), None
    path = write_outputs(run.opts.out_dir, record, predictions)
    if record.status == "failed" and path.name.endswith(".failed.json"):
        console.print(f"[yellow]{spec.name}: the complete record {path.with_name(path.name[:-12] + '.json')} "
                      f"is kept; this failure is in {path.name}[/]")
    copy_gallery(run.audit_gallery, path)
    return TaskOutcome(record, path, spec)
