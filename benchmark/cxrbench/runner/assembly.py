"""Assembling one task's record from the cache entries of its finished jobs.

Data in, data out: a `TaskRun` (what was planned) and the executor's outcomes go in; the
`ResultRecord` and its per-image predictions table come out. Writing them is `records.py`'s job.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from cxrbench.errors import CxrbenchError
from cxrbench.results import GenerationRun, ResultRecord, StageTiming, SubmissionRef, TaskRef
from cxrbench.runner.datasets import pixel_fingerprint, task_refs
from cxrbench.runner.environment import environment
from cxrbench.runner.executors import Outcome
from cxrbench.runner.records import prediction_table
from cxrbench.submissions import Submission
from cxrbench.tasking import Budget, TaskSpec

if TYPE_CHECKING:
    from cxrbench.runner.planning import TaskRun

#: record stage → the planned stages whose jobs it sums (`train+predict`: either kind of run)
_RECORDED_STAGES = (("generate", ("generate",)), ("audit", ("audit",)), ("train+predict", ("predict", "train")),
                    ("score", ("score",)))


def task_ref(task: TaskSpec, budget_name: str, budget: Budget) -> TaskRef:
    from cxrbench.baselines.classifier import get_recipe

    recipe = get_recipe(budget.recipe, image_size=budget.image_size)
    return TaskRef(name=task.name, version=task.version, family=task.family, profile=task.profile,
                   budget=budget_name, supplement_ratio=task.supplement_ratio, label_set=task.label_set,
                   labels=list(task.labels), uncertainty_policy=task.scoring_uncertainty,
                   image_size=budget.image_size, recipe=f"{recipe.name}@{recipe.version}",
                   baseline=task.baseline, spec_sha256=task.sha256(), more_real_data=task.more_real_data)


def submission_ref(sub: Submission, task: TaskSpec, budget: Budget | None, fits: bool = False) -> SubmissionRef:
    from cxrbench.runner.population import allowed_keys, population_fields

    m = sub.manifest
    allowed = allowed_keys(task, m.kind)
    keys = m.training_keys
    outside = [d for d in keys if d not in allowed]
    return SubmissionRef(
        name=m.name, version=m.version, kind=m.kind, sha256=sub.sha256(), authors=m.authors, license=m.license,
        declared_training_data=keys, training_data_within_bounds=not outside, description=m.description,
        paper=m.paper, links=m.links, parameters=sub.parameters, parameter_files=sub.parameter_files, fits=fits,
        bounds_note=(f"declares training data outside this task's bounds: {', '.join(outside)} "
                     f"(allowed: {', '.join(allowed) or 'none'})") if outside else None,
        **population_fields(keys, m.training_population, m.kind, task, budget))


def training_processes(budget: Budget) -> dict:
    """Each reference run trains in one process; whether another process count (DDP) would give
    another model beyond float reduction order (`Distributed.result_depends_on_process_count`)."""
    from cxrbench.baselines.classifier import get_recipe
    from cxrbench.baselines.distributed import Distributed

    recipe = get_recipe(budget.recipe, image_size=budget.image_size)
    return {"processes": 1, "result_depends_on_process_count": Distributed.result_depends_on_process_count(
        recipe.drop_rate)}


def audit_report(run: TaskRun) -> dict | None:
    """The audit's report (or why it was skipped); None when the task planned no audit."""
    if run.audit_skipped:
        return {"skipped": run.audit_skipped}
    if not run.keys.get("audit"):
        return None
    entry = run.cache.path("audit", run.keys["audit"][0])
    run.audit_gallery = entry / "gallery"
    return json.loads((entry / "report.json").read_text())


def generation_runs(run: TaskRun, outcomes: dict[str, Outcome]) -> list[GenerationRun]:
    """The measured cost of each replica this task trained on (reused: its job was a cache hit)."""
    from cxrbench.runner.generate import _measured

    runs = [_measured(run.cache.meta("synthetic", key), run.replica_of[key], outcomes[key].cached)
            for key in run.keys.get("generate", [])]
    return [g for g in runs if g is not None]


def stage_timings(run: TaskRun, outcomes: dict[str, Outcome]) -> list[StageTiming]:
    """Seconds per recorded stage, summed over the task's jobs (cached: every job was a cache hit or
    built by another worker), with what happened to them on any node (retries, lease takeovers, ...)."""
    timings = []
    for stage, planned in _RECORDED_STAGES:
        keys = [k for name in planned for k in run.keys.get(name, [])]
        if keys:
            events = [f"{run.labels.get(k, k[:12])}: {e}" for k in keys for e in outcomes[k].events]
            timings.append(StageTiming(stage=stage, seconds=round(sum(outcomes[k].seconds for k in keys), 3),
                                       cached=all(outcomes[k].cached for k in keys), events=events))
    return timings


def split_fingerprints(run: TaskRun) -> dict[str, str]:
    """The fingerprint of every slice the task read, plus the pixel provenance of generated sources."""
    fingerprints = {name: es.fingerprint for name, es in run.eval_sets.items()}
    assert run.val is not None, "assembled before planning"
    fingerprints["val"] = run.val.fingerprint
    if run.real_train is not None:
        fingerprints["real_train"] = run.real_train.fingerprint
    pixels = pixel_fingerprint(task_refs(run.task), run.budget)
    if pixels is not None:
        fingerprints["pixels"] = pixels
    return fingerprints


def assemble(run: TaskRun, outcomes: dict[str, Outcome]) -> tuple[ResultRecord, pd.DataFrame]:
    """The record and predictions table from the finished jobs (CxrbenchError: the first failure)."""
    task = run.task
    for key in run.job_keys():  # the first failure in plan order (a generation before the runs it feeds)
        if key in outcomes and outcomes[key].error:
            raise CxrbenchError(outcomes[key].error)
    run.timer.timings.extend(stage_timings(run, outcomes))
    report = audit_report(run)
    if report and run.opts.population.private and isinstance(report.get("leakage"), dict):
        report["leakage"]["gallery"] = None  # it shows private eval films: withheld (`records.copy_gallery`)
    score = outcomes[run.keys["score"][0]].value
    scored, preds, base_preds = score.scored, score.preds, score.base_preds
    record = ResultRecord(
        status="complete", task=task_ref(task, run.opts.budget, run.budget),
        submission=submission_ref(run.sub, task, run.budget, fits=run.fits),
        split_fingerprints=split_fingerprints(run), seeds=sorted(preds),
        environment=environment(run.isolation(), training_processes(run.budget)),
        eval_sets=scored.eval_sets, comparisons=scored.comparisons, subgroups=scored.subgroups,
        subgroup_summaries=scored.subgroup_summaries, audit=report, timings=run.timer.timings,
        generation=generation_runs(run, outcomes), evaluation=run.opts.population.record_section(run.eval_sets),
        scored_labels=list(run.scored_labels), smoke_limit=run.opts.limit)
    if report and report.get("leakage_flag"):
        record.status = "failed"
        record.errors.append("test leakage: synthetic images near-duplicate test images (see audit.leakage); "
                             "a generator that reproduces test images cannot be scored")
    return record, prediction_table(run.eval_sets, preds, base_preds, run.scored_labels)


def failed_record(run: TaskRun, error: str) -> ResultRecord:
    """The record of a task that failed while planning or running: what is known, and why."""
    sub, task, opts = run.sub, run.task, run.opts
    b = task.budgets.get(opts.budget) or next(iter(task.budgets.values()))
    return ResultRecord(status="failed", task=task_ref(task, opts.budget, b), submission=submission_ref(sub, task, b),
                        split_fingerprints={}, seeds=list(opts.seeds or b.seeds), environment=environment(run.isolation()),
                        timings=run.timer.timings, errors=[error], evaluation=opts.population.record_section(),
                        smoke_limit=opts.limit)
