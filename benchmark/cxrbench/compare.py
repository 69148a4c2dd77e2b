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


def _arm(table: pd.DataFrame, eval_set: str, labels: list[str], fixed: bool):
    """The submission's per-seed predictions on one eval set, labelled by image id and seed (each seed
    put in the first seed's image order by id; `compare_on` then aligns the arm with the eval set)."""
    from cxrbench.stats.arms import Arm, check_ids

    part = table[(table["model"] == "submission") & (table["eval_set"] == eval_set)]
    seeds = sorted(int(s) for s in part["seed"].unique())
    if not seeds:
        raise RecordError(f"predictions hold no row of the submission on {eval_set}")
    ids, stacks = part.loc[part["seed"] == seeds[0], "image_id"].astype(str).to_numpy(), []
    for seed in seeds:
        rows = part[part["seed"] == seed]
        seed_ids = rows["image_id"].astype(str).to_numpy()
        check_ids(seed_ids, f"predictions for {eval_set}, seed {seed}")
        position = pd.Index(seed_ids).get_indexer(pd.Index(ids))
        if (position < 0).any() or len(seed_ids) != len(ids):
            other = ids[position < 0] if (position < 0).any() else seed_ids[~pd.Index(seed_ids).isin(ids)]
            raise RecordError(f"predictions for {eval_set}: seed {seed} and seed {seeds[0]} differ in image "
                              f"{str(other[0])!r}")
        stacks.append(rows[labels].to_numpy(np.float64)[position])
    return Arm(np.stack(stacks), ids, tuple(seeds), fixed=fixed)


def _fixed(record: ResultRecord) -> bool:
    """A frozen classifier's record: one fixed model (no training-seed variance)."""
    return record.submission.kind == "classifier" and not record.submission.fits


def compare_records(a: ResultRecord, b: ResultRecord, folder_a: Path, folder_b: Path, *,
                    cache_root: Path | None = None, population=None,
                    files: tuple[Path, Path] | None = None) -> list[Comparison]:
    """Δ (A − B) per eval set, by the same procedure as a record's own comparisons (paired seeds).
    `population` (`cxrbench.trust.populations`): the records' eval population; default dev.
    `files`: the records' paths, for the command that regenerates absent predictions."""
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
    absent = [str(f) for rec, folder, f in ((a, folder_a, files[0] if files else None),
                                             (b, folder_b, files[1] if files else None))
              if rec.predictions_file and not (Path(folder) / rec.predictions_file).is_file()]
    if absent:
        raise RecordError(f"the per-image predictions of {len(absent)} record(s) are not beside them (published records "
                          f"ship without them); regenerate them first: cxrbench reproduce {' '.join(absent)}"
                          if files else f"predictions missing beside {len(absent)} record(s): run `cxrbench reproduce`")
    spec = get_task(a.task.name)
    if spec.version != a.task.version or spec.sha256() != a.task.spec_sha256:
        raise CxrbenchError(f"{a.task.name}: the shipped task (version {spec.version}) differs from the records' "
                            f"(version {a.task.version}); rerun them")
    budget = spec.budget(a.task.budget)
    from cxrbench.reproduce import within_contract

    # a file `cxrbench reproduce` regenerated on another machine: accepted within the reproducibility contract
    pa = read_predictions(a, folder_a, regenerated=lambda table: within_contract(a, table))
    pb = read_predictions(b, folder_b, regenerated=lambda table: within_contract(b, table))
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
        out.append(compare_on(name, es, tuple(labels), _arm(pa, name, labels, _fixed(a)), _arm(pb, name, labels, _fixed(b)),
                              against=f"{b.submission.name}@{b.submission.version}", rule=spec.eligibility,
                              endpoint="primary" if name == spec.primary.eval_set else "secondary"))
    return out
