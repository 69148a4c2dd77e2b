"""`evaluate`: one submission over tasks, generate → train → predict → score, with caching.

Each task runs on its own: a failure (bad data, a submission that crashes, hangs or returns
garbage) becomes a `failed` record naming the problem, and the next task still runs. Every stage
is cached by a hash of its inputs and written atomically, so a rerun after a crash or `kill -9`
resumes where it stopped and produces the same record.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cxrbench import __version__
from cxrbench.errors import ConfigError, CxrbenchError, DataError
from cxrbench.results import Environment, ResultRecord, StageTiming, SubmissionRef, TaskRef, write_record
from cxrbench.runner.cache import Cache
from cxrbench.runner.classify import Predictions, reference_runs, submitted_predictions
from cxrbench.runner.datasets import RealSet, load_real_set, pixel_fingerprint, task_refs
from cxrbench.runner.generate import generation_runs, synthesize
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


@dataclass
class TaskOutcome:
    record: ResultRecord
    path: Path


@dataclass
class _Timer:
    timings: list[StageTiming] = field(default_factory=list)
    #: called with one line per finished stage; set when the console is not a terminal (a CI log,
    #: `2> run.log`), where rich redraws nothing until the end and a long run would look hung
    log: Callable[[str], None] | None = None
    label: str = ""

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        entry = StageTiming(stage=name, seconds=0.0)
        self.timings.append(entry)
        yield entry
        entry.seconds = round(time.perf_counter() - start, 3)
        if self.log is not None:
            self.log(f"{self.label} · {name} done in {entry.seconds:.1f} s" + (" (cached)" if entry.cached else ""))


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


def _submission_ref(sub: Submission, task: TaskSpec) -> SubmissionRef:
    m = sub.manifest
    allowed = _allowed_training_data(task, m.kind)
    outside = [d for d in m.training_data if d not in allowed]
    return SubmissionRef(
        name=m.name, version=m.version, kind=m.kind, sha256=sub.sha256(), authors=m.authors, license=m.license,
        declared_training_data=m.training_data, training_data_within_bounds=not outside, description=m.description,
        paper=m.paper, links=m.links, parameters=sub.parameters, parameter_files=sub.parameter_files,
        bounds_note=(f"declares training data outside this task's bounds: {', '.join(outside)} "
                     f"(allowed: {', '.join(allowed) or 'none'})") if outside else None)


class TaskRun:
    """Everything one (task, submission) needs; `run()` returns the record."""

    def __init__(self, sub: Submission, task: TaskSpec, opts: RunOptions, cache: Cache, progress: Progress):
        self.sub, self.task, self.opts, self.cache, self.progress = sub, task, opts, cache, progress
        self.budget = task.budget(opts.budget)
        self.seeds = list(opts.seeds or self.budget.seeds)
        console = progress.console
        self.timer = _Timer(log=None if console.is_terminal else console.print, label=task.name)
        self.store_root = cache.root / "images"
        self.audit_gallery: Path | None = None

    def limits(self, timeout_s: float) -> Limits:
        return Limits(timeout_s=timeout_s, memory_gb=self.budget.memory_limit_gb, threads=self.opts.threads,
                      sandboxed=not self.opts.unsafe_no_sandbox)

    def isolation(self) -> dict:
        from cxrbench.submissions.sandbox import isolation

        if self.sub.manifest.precomputed or (self.sub.kind == "generator" and not self.task.uses_generator):
            return {"mode": "no submission code"}
        return isolation(self.limits(0), self.opts.device)

    def _real(self, ref, max_images=None) -> RealSet:
        return load_real_set(ref, self.budget, self.store_root, max_images=max_images)

    def generate(self, conditioning: RealSet) -> list:
        """Every replica the task needs (cached per replica; a rerun resumes finished shards)."""
        task, b = self.task, self.budget
        total = len(conditioning) * task.replicas
        bar = self.progress.add_task(f"generate {task.name}", total=total)
        synthetic = []
        with self.timer.stage("generate") as t:
            t.cached = all(self.cache.has("synthetic", k) for k in self._replica_keys(conditioning))
            limits = self.limits(b.generator_timeout_s)
            for r in range(task.replicas):
                synthetic.append(synthesize(self.sub, conditioning, r, size=b.image_size,
                                            generation_seed=task.generation_seed, cache=self.cache, limits=limits,
                                            device=self.opts.device, progress=lambda n: self.progress.advance(bar, n),
                                            denied=(self.opts.out_dir,)))
            self.progress.update(bar, completed=total)
        return synthetic

    def _replica_keys(self, conditioning: RealSet) -> list[str]:
        from cxrbench.runner.generate import replica_key

        return [replica_key(self.sub, conditioning, r, self.budget.image_size, self.task.generation_seed, self.cache)
                for r in range(self.task.replicas)]

    def audit(self, replica, conditioning: RealSet, eval_sets: dict[str, RealSet]) -> dict | None:
        """The generator audit of the first replica; skipped (with the reason) where no reference space ships."""
        from cxrbench.runner.audit_stage import audit_replica

        with self.timer.stage("audit"):
            try:
                report, gallery = audit_replica(replica, conditioning, eval_sets, profile=self.task.profile,
                                                cache=self.cache, device=self.opts.device)
            except ConfigError as exc:
                return {"skipped": str(exc)}
        self.audit_gallery = gallery
        return report

    def data(self) -> tuple[RealSet | None, RealSet, dict[str, RealSet], np.ndarray]:
        """The task's real training rows, validation set and eval sets (checked disjoint by patient),
        and the eval image ids that no training input may be."""
        task, b = self.task, self.budget
        real_train = self._real(task.real_train, b.max_train_images) if task.real_train else None
        val = self._real(task.val, b.max_val_images)
        eval_sets = {name: self._real(ref, b.max_eval_images) for name, ref in task.eval_sets.items()}
        _check_disjoint(real_train, val, eval_sets)
        forbidden = np.concatenate([es.rows["image_id"].astype(str).to_numpy() for es in eval_sets.values()])
        return real_train, val, eval_sets, forbidden

    def common(self, val: RealSet, eval_sets: dict[str, RealSet], forbidden: np.ndarray) -> dict:
        """The arguments every reference-recipe run of this task shares (`reference_run(**common, ...)`)."""
        b = self.budget
        return dict(val=val, eval_sets=eval_sets, labels=self.task.labels, recipe_name=b.recipe,
                    image_size=b.image_size, train_uncertainty=self.task.train_uncertainty, cache=self.cache,
                    forbidden_ids=forbidden, device=self.opts.device)

    def run(self) -> tuple[ResultRecord, pd.DataFrame]:
        from cxrbench.baselines.classifier import get_recipe
        from cxrbench.runner.score import score_task

        task, b = self.task, self.budget
        labels = task.labels
        with self.timer.stage("data"):
            real_train, val, eval_sets, forbidden = self.data()

        synthetic, audit_report = [], None
        if self.sub.kind == "generator" and task.uses_generator:
            conditioning = self._real(task.conditions_from, b.max_train_images)
            _check_disjoint(conditioning, None, eval_sets)
            synthetic = self.generate(conditioning)
            audit_report = self.audit(synthetic[0], conditioning, eval_sets)

        common = self.common(val, eval_sets, forbidden)
        preds: dict[int, Predictions] = {}
        base_preds: dict[int, Predictions] = {}
        baseline = get_task(task.baseline) if task.baseline else None
        base_train = None
        if baseline is not None:
            base_train = self._real(baseline.real_train, b.max_train_images) if baseline.real_train else None
        n_runs = len(self.seeds) * (2 if baseline is not None or self.sub.kind == "classifier" else 1)
        bar = self.progress.add_task(f"train  {task.name}", total=n_runs)
        with self.timer.stage("train+predict") as t:
            if self.sub.kind == "classifier":
                limits = self.limits(b.classifier_timeout_s)
                p = submitted_predictions(self.sub, real_train=real_train, eval_sets=eval_sets, labels=labels,
                                          cache=self.cache, limits=limits, device=self.opts.device,
                                          denied=(self.opts.out_dir,), train_uncertainty=task.train_uncertainty,
                                          recipe=get_recipe(b.recipe, image_size=b.image_size))
                preds = {0: p}
                self.progress.advance(bar, len(self.seeds))
                base_train = real_train
            jobs = [] if self.sub.kind == "classifier" else [
                dict(real_train=real_train, synthetic=synthetic, seed=seed,
                     replicas_of_real=task.family == "supplement", **common) for seed in self.seeds]
            n_sub = len(jobs)
            if baseline is not None or self.sub.kind == "classifier":
                jobs += [dict(real_train=base_train, synthetic=[], seed=seed, **common) for seed in self.seeds]
            runs = reference_runs(jobs, workers=self.opts.jobs, threads=self.opts.threads or 1,
                                  on_done=lambda: self.progress.advance(bar))
            if self.sub.kind != "classifier":
                preds = dict(zip(self.seeds, runs[:n_sub]))
            base_preds = dict(zip(self.seeds, runs[n_sub:]))
            t.cached = all(p.cached for p in (*preds.values(), *base_preds.values()))

        with self.timer.stage("score"):
            from cxrbench.runner.score_inputs import against_for

            against = against_for(task, b, self.sub.kind)
            scored = score_task(eval_sets=eval_sets, labels=labels, preds={s: p.by_eval_set for s, p in preds.items()},
                                base_preds={s: p.by_eval_set for s, p in base_preds.items()}, against=against,
                                primary_eval_set=task.primary.eval_set, eligibility=task.eligibility)
        fingerprints = {f"{name}": es.fingerprint for name, es in eval_sets.items()}
        fingerprints["val"] = val.fingerprint
        if real_train is not None:
            fingerprints["real_train"] = real_train.fingerprint
        pixels = pixel_fingerprint(task_refs(task), b)
        if pixels is not None:
            fingerprints["pixels"] = pixels
        record = ResultRecord(
            status="complete", task=_task_ref(task, self.opts.budget, b), submission=_submission_ref(self.sub, task),
            split_fingerprints=fingerprints, seeds=sorted(preds), environment=environment(self.isolation()),
            eval_sets=scored.eval_sets, comparisons=scored.comparisons, subgroups=scored.subgroups,
            subgroup_summaries=scored.subgroup_summaries, audit=audit_report, timings=self.timer.timings,
            generation=generation_runs(synthetic))
        if audit_report and audit_report.get("leakage_flag"):
            record.status = "failed"
            record.errors.append("test leakage: synthetic images near-duplicate test images (see audit.leakage); "
                                 "a generator that reproduces test images cannot be scored")
        return record, _prediction_table(eval_sets, {s: p.by_eval_set for s, p in preds.items()},
                                         {s: p.by_eval_set for s, p in base_preds.items()}, labels)


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


def _prediction_table(eval_sets, preds, base_preds, labels) -> pd.DataFrame:
    frames = []
    for model, runs in (("submission", preds), ("baseline", base_preds)):
        for seed, by_set in runs.items():
            for name, probs in by_set.items():
                rows = eval_sets[name].rows
                f = pd.DataFrame(np.asarray(probs, np.float32), columns=list(labels))
                f.insert(0, "seed", seed)
                f.insert(0, "model", model)
                f.insert(0, "patient_id", rows["patient_id"].astype(str).to_numpy())
                f.insert(0, "image_id", rows["image_id"].astype(str).to_numpy())
                f.insert(0, "eval_set", name)
                frames.append(f)
    return pd.concat(frames, ignore_index=True)


def record_path(out_dir: Path, record: ResultRecord) -> Path:
    task = record.task.name.replace("/", "__")
    return out_dir / f"{task}@{record.task.version}" / f"{record.submission.name}@{record.submission.version}.json"


def _keeps_complete(path: Path) -> bool:
    """A complete, intact record is already at `path` (a failed rerun must not replace it)."""
    from cxrbench.results import RecordError, read_record

    try:
        return path.is_file() and read_record(path).status == "complete"
    except RecordError:
        return False


def _write(out_dir: Path, record: ResultRecord, predictions: pd.DataFrame | None) -> Path:
    from cxrbench.data.atomic import atomic_write

    path = record_path(out_dir, record)
    if record.status == "failed" and _keeps_complete(path):
        path = path.with_suffix(".failed.json")  # beside the good record, which stays
    if predictions is not None:
        ppath = path.with_suffix(".predictions.parquet")
        import hashlib
        import io

        buf = io.BytesIO()
        predictions.to_parquet(buf, index=False)
        data = buf.getvalue()
        atomic_write(ppath, lambda fh: fh.write(data))
        record.predictions_file = ppath.name
        record.predictions_sha256 = hashlib.sha256(data).hexdigest()
    write_record(record, path)
    return path


def _copy_gallery(gallery: Path | None, record_file: Path) -> None:
    """The audit's PNG galleries beside the record, in `<record stem>.gallery/` (the record names
    the files relative to that folder, so it never carries a path of this machine)."""
    import shutil

    if gallery is not None and gallery.is_dir():
        shutil.copytree(gallery, record_file.with_suffix(".gallery"), dirs_exist_ok=True)


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
    # Baselines first, so their (shared, cached) runs come before the tasks that compare with them.
    specs.sort(key=lambda s: (s.supplement_ratio, s.name))
    cache = Cache(opts.cache_root, force=opts.force, report=lambda msg: console.print(f"[bold yellow]{msg}[/]"))
    if opts.threads and opts.device == "cpu":
        import torch

        torch.set_num_threads(opts.threads)
    outcomes = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        for spec in specs:
            run = TaskRun(sub, spec, opts, cache, progress)
            try:
                record, predictions = run.run()
            except CxrbenchError as exc:
                console.print(f"[bold red]{spec.name}: failed:[/] {escape(str(exc))}")
                cache.discard_partials()
                record, predictions = _failed_record(run, str(exc)), None
            path = _write(opts.out_dir, record, predictions)
            if record.status == "failed" and path.name.endswith(".failed.json"):
                console.print(f"[yellow]{spec.name}: the complete record {path.with_name(path.name[:-12] + '.json')} "
                              f"is kept; this failure is in {path.name}[/]")
            _copy_gallery(run.audit_gallery, path)
            outcomes.append(TaskOutcome(record, path))
    return outcomes
