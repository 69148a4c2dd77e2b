"""Rebuild `score_task`'s inputs from a record's predictions file, so `publish` can recompute every number.

A record's content hash only shows it was not edited after sealing; anyone can reseal an edited
record. So `cxrbench publish` trusts no number in it: it reloads the task's eval sets on its own
side (rows and labels; labels never travel with a record), rebuilds the per-seed prediction
arrays from the predictions parquet, calls the runner's own `score_task`, and refuses the record
when any field differs. One adapter (`rescore`) is the only place that knows `score_task`'s
keyword arguments besides the runner.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from cxrbench.results import RecordError, ResultRecord
from cxrbench.runner.datasets import RealSet
from cxrbench.runner.score import Scored, score_task
from cxrbench.stats import StatsError
from cxrbench.stats.arms import Arm, align
from cxrbench.trust.populations import EvalPopulation

#: fields of a record that `score_task` produces, compared in this order
SCORED_FIELDS = ("eval_sets", "comparisons", "subgroups", "subgroup_summaries")
TOLERANCE = 1e-9


def against_for(spec, budget, kind: str) -> str | None:
    """What a record's comparisons are taken against (the runner and publish agree on it)."""
    if spec.baseline:
        return spec.baseline
    if kind == "classifier" and spec.real_train is not None:
        return f"reference recipe ({budget.recipe}) on {spec.real_train.key}"
    return None


def label_sets(spec, budget, population: EvalPopulation | None = None) -> dict[str, RealSet]:
    """The task's eval sets in `population` (default: the dev sets) with rows and labels only (no
    pixels: scoring never reads them), sealed as the runner sealed them."""
    from cxrbench.runner.datasets import PRIVATE_REF, eval_rows, slice_fingerprint_of

    population = population or EvalPopulation()
    out = {}
    for name, ref in spec.eval_sets.items():
        _, rows = eval_rows(name, ref, budget, population)
        part = RealSet(ref=PRIVATE_REF if population.private_set(name) else ref, rows=rows,
                       pixels=np.zeros((len(rows), 0, 0), np.uint8), fingerprint=slice_fingerprint_of(rows))
        out[name] = population.seal(part)
    return out


def _per_seed(table: pd.DataFrame, model: str, eval_sets: dict[str, RealSet],
              labels: list[str]) -> dict[int, dict[str, np.ndarray]]:
    part = table[table["model"] == model]
    out: dict[int, dict[str, np.ndarray]] = {}
    for seed, seed_part in part.groupby("seed", sort=True):
        out[int(seed)] = {}
        for name, es in eval_sets.items():
            rows = seed_part[seed_part["eval_set"] == name]
            arm = Arm(rows[labels].to_numpy(np.float64)[None], rows["image_id"].astype(str).to_numpy(), (int(seed),))
            try:  # by image id, never by row position
                out[int(seed)][name] = align(arm, es.rows["image_id"].astype(str).to_numpy(), labels,
                                             name=f"predictions of {model} seed {seed} on {name}")[0]
            except StatsError as exc:
                raise RecordError(str(exc)) from None
    return out


def rescore(record: ResultRecord, table: pd.DataFrame, eval_sets: dict[str, RealSet], *, against: str | None,
            primary_eval_set: str, eligibility) -> Scored:
    """`score_task` on the record's own predictions and our labels."""
    labels = record.labels
    missing = [c for c in ("eval_set", "image_id", "model", "seed", *labels) if c not in table.columns]
    if missing:
        raise RecordError(f"predictions file lacks column(s) {missing}")
    preds = _per_seed(table, "submission", eval_sets, labels)
    base = _per_seed(table, "baseline", eval_sets, labels)
    if not preds:
        raise RecordError("predictions file has no rows of the submission")
    if sorted(preds) != sorted(record.seeds):
        raise RecordError(f"predictions hold seeds {sorted(preds)}, the record says {sorted(record.seeds)}")
    return score_task(eval_sets=eval_sets, labels=tuple(labels), preds=preds, base_preds=base, against=against,
                      primary_eval_set=primary_eval_set, eligibility=eligibility,
                      fixed_submission=record.submission.kind == "classifier" and not record.submission.fits)


def first_difference(claimed: Any, computed: Any, path: str = "", tolerance: float = TOLERANCE) -> str | None:
    """The first place two JSON-like values differ, as `path: record X, recomputed Y` (None: equal)."""
    if isinstance(claimed, dict) and isinstance(computed, dict):
        for key in list(claimed) + [k for k in computed if k not in claimed]:
            if key not in claimed or key not in computed:
                return f"{path}.{key}: present in only one of record and recomputation"
            if (diff := first_difference(claimed[key], computed[key], f"{path}.{key}", tolerance)) is not None:
                return diff
        return None
    if isinstance(claimed, list) and isinstance(computed, list):
        if len(claimed) != len(computed):
            return f"{path}: record has {len(claimed)} entries, recomputation {len(computed)}"
        for i, (a, b) in enumerate(zip(claimed, computed)):
            tag = next((a[k] for k in ("eval_set", "label", "group") if isinstance(a, dict) and k in a), i)
            if isinstance(a, dict) and "attribute" in a:
                tag = f"{a.get('eval_set')}/{a['attribute']}/{a.get('group', '')}".rstrip("/")
            if (diff := first_difference(a, b, f"{path}[{tag}]", tolerance)) is not None:
                return diff
        return None
    if isinstance(claimed, bool) or isinstance(computed, bool) or not (
            isinstance(claimed, (int, float)) and isinstance(computed, (int, float))):
        return None if claimed == computed else f"{path}: record {claimed!r}, recomputed {computed!r}"
    if math.isclose(float(claimed), float(computed), rel_tol=tolerance, abs_tol=tolerance):
        return None
    return f"{path}: record {claimed!r}, recomputed {computed!r}"


def population_for(record: ResultRecord, held: tuple[EvalPopulation, ...] = ()) -> EvalPopulation | None:
    """The population whose labels score `record`: dev, or the held-out one of its key among `held`
    (None: its key is not among them, so its numbers cannot be recomputed here)."""
    ev = record.evaluation
    if ev.eval_sets == "dev":
        return EvalPopulation()
    for population in held:
        if population.held_out and population.fingerprint == ev.evaluator_key \
                and sorted(p.name for p in population.private) == sorted(ev.private_eval_sets):
            return population
    return None


def verify_numbers(record: ResultRecord, table: pd.DataFrame, population: EvalPopulation | None = None) -> str | None:
    """None when every scored number of `record` is what its predictions give; else the first difference.
    `population`: the record's own (`population_for`); default dev."""
    from cxrbench.tasking import get_task

    spec = get_task(record.task.name)
    budget = spec.budget(record.task.budget)
    population = population or EvalPopulation()
    if population.name != record.evaluation.eval_sets or (population.held_out and population.fingerprint
                                                           != record.evaluation.evaluator_key):
        raise RecordError(f"the record was scored on {record.evaluation.eval_sets} sets"
                          + (f" of key {record.evaluation.evaluator_key}" if record.evaluation.evaluator_key else "")
                          + f", not on this {population.name} population")
    eval_sets = label_sets(spec, budget, population)
    for name, es in eval_sets.items():
        if record.split_fingerprints.get(name) != es.fingerprint:
            return f"split_fingerprints.{name}: the record's eval set is not the local frozen split"
    scored = rescore(record, table, eval_sets, against=against_for(spec, budget, record.submission.kind),
                     primary_eval_set=spec.primary.eval_set, eligibility=spec.eligibility)
    for field in SCORED_FIELDS:
        claimed = [item.model_dump(mode="json") for item in getattr(record, field)]
        computed = [item.model_dump(mode="json") for item in getattr(scored, field)]
        if (diff := first_difference(claimed, computed, field)) is not None:
            return diff
    return None


def arm_macros(record: ResultRecord, table: pd.DataFrame, population: EvalPopulation, model: str) -> dict[str, dict[str, float]]:
    """eval set → seed → macro AUROC of one arm (`model` rows) of a record's predictions, by the
    scorer's own `score_eval_set` on the labels of `population` (the reference-arm check)."""
    from cxrbench.runner.score import score_eval_set, seed_stack
    from cxrbench.tasking import get_task

    spec = get_task(record.task.name)
    labels = record.labels
    eval_sets = label_sets(spec, spec.budget(record.task.budget), population)
    arm = _per_seed(table, model, eval_sets, labels)
    out: dict[str, dict[str, float]] = {}
    for name, es in eval_sets.items():
        if arm:
            score = score_eval_set(name, es, tuple(labels), seed_stack(arm, name), spec.eligibility)
            out[name] = {str(s): m for s, m in zip(sorted(arm), score.per_seed_macro_auroc) if m is not None}
    return out
