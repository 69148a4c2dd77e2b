"""Paired comparison of two result records on the same task, from their saved predictions.

No retraining: each record keeps its per-image, per-seed probabilities beside it. The labels
come from the task's frozen eval sets, re-read here on the scorer's side (they never travel
with a record).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.errors import CxrbenchError
from cxrbench.results import Comparison, RecordError, ResultRecord, read_predictions


def _stack(table: pd.DataFrame, eval_set: str, image_ids: list[str], labels: list[str]) -> np.ndarray:
    part = table[(table["model"] == "submission") & (table["eval_set"] == eval_set)]
    stacks = []
    for _, seed_part in part.groupby("seed", sort=True):
        seed_part = seed_part.set_index("image_id")
        missing = set(image_ids) - set(seed_part.index)
        if missing:
            raise RecordError(f"predictions for {eval_set} miss {len(missing)} image(s), e.g. {sorted(missing)[0]}")
        stacks.append(seed_part.loc[image_ids, labels].to_numpy(np.float64))
    return np.stack(stacks)


def compare_records(a: ResultRecord, b: ResultRecord, folder_a: Path, folder_b: Path, *,
                    cache_root: Path | None = None, population=None) -> list[Comparison]:
    """Δ (A − B) per eval set, by the same procedure as a record's own comparisons (paired seeds).
    `population` (`cxrbench.trust.populations`): the records' eval population; default dev."""
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.datasets import load_eval_set, pixel_fingerprint, task_refs
    from cxrbench.runner.score import compare_on
    from cxrbench.tasking import get_task
    from cxrbench.trust.populations import EvalPopulation

    population = population or EvalPopulation()
    for rec in (a, b):
        if (rec.evaluation.eval_sets, rec.evaluation.evaluator_key) != (population.name, population.fingerprint
                                                                         if population.held_out else None):
            raise CxrbenchError(f"{rec.key} was scored on {rec.evaluation.eval_sets} sets"
                                + (f" of key {rec.evaluation.evaluator_key}" if rec.evaluation.evaluator_key else "")
                                + "; records compare only within one eval population")

    if (a.task.name, a.task.version, a.task.budget) != (b.task.name, b.task.version, b.task.budget):
        raise CxrbenchError(f"records are for different tasks: {a.task.name}@{a.task.version} ({a.task.budget}) vs "
                            f"{b.task.name}@{b.task.version} ({b.task.budget})")
    if a.status != "complete" or b.status != "complete":
        raise CxrbenchError("both records must be complete to compare them")
    if a.seeds != b.seeds:
        raise CxrbenchError(f"records were trained with different classifier seeds ({a.submission.name}: {a.seeds}, "
                            f"{b.submission.name}: {b.seeds}); rerun one with the other's seeds")
    if a.task.labels != b.task.labels:
        raise CxrbenchError(f"records score different label sets ({a.task.label_set} vs {b.task.label_set})")
    # classifiers scored on different subsets of the task's labels compare on the labels both predict
    labels = [lab for lab in a.labels if lab in b.labels]
    if not labels:
        raise CxrbenchError(f"the records share no scored label ({a.submission.name}: {', '.join(a.labels)}; "
                            f"{b.submission.name}: {', '.join(b.labels)})")
    for sa in a.eval_sets:
        sb = next((x for x in b.eval_sets if x.eval_set == sa.eval_set), None)
        if sb is not None and [x for x in sa.macro_labels if x in labels] != [x for x in sb.macro_labels if x in labels]:
            raise CxrbenchError(f"{sa.eval_set}: the records' macros use different eligible labels "
                                f"({len(sa.macro_labels)} vs {len(sb.macro_labels)}); they were scored on other data")
    spec = get_task(a.task.name)
    if spec.version != a.task.version or spec.sha256() != a.task.spec_sha256:
        raise CxrbenchError(f"{a.task.name}: the shipped task (version {spec.version}) differs from the records' "
                            f"(version {a.task.version}); rerun them")
    budget = spec.budget(a.task.budget)
    pa, pb = read_predictions(a, folder_a), read_predictions(b, folder_b)
    store = Cache(cache_root).root / "images"
    pixels = pixel_fingerprint(task_refs(spec), budget)
    for rec in (a, b):
        if rec.split_fingerprints.get("pixels") != pixels:
            raise CxrbenchError(f"{rec.key}: scored on images drawn by another renderer version than the local "
                                f"one (pixels fingerprint differs); rerun it with this release")
    out = []
    for name, ref in spec.eval_sets.items():
        es = population.seal(load_eval_set(name, ref, budget, store, population))
        for rec in (a, b):
            if rec.split_fingerprints.get(name) != es.fingerprint:
                raise CxrbenchError(f"{rec.key}: eval set {name} fingerprint differs from the local frozen split")
        ids = es.rows["image_id"].astype(str).tolist()
        out.append(compare_on(name, es, tuple(labels), _stack(pa, name, ids, labels), _stack(pb, name, ids, labels),
                              against=f"{b.submission.name}@{b.submission.version}", rule=spec.eligibility,
                              paired_seeds=len(a.seeds) > 1,
                              endpoint="primary" if name == spec.primary.eval_set else "secondary"))
    return out
