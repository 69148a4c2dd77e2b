"""TEST FIXTURES: synthetic, clearly fake result records for the leaderboard's tests and benchmark.

Nothing here is a measurement. The numbers are drawn from a seeded RNG so that pages have
something to show (curves rise with N, the oracle beats the reference which beats noise); the
shipped records in leaderboard/cxrbench/leaderboard/results/ come from `cxrbench evaluate`, never from here.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.results import (
    Comparison,
    Environment,
    EvalSetScore,
    GenerationRun,
    LabelDelta,
    LabelScore,
    ResultRecord,
    StageTiming,
    SubgroupScore,
    SubgroupSummary,
    SubmissionRef,
    TaskRef,
    write_record,
)
from cxrbench.schema import LABEL_SETS

SUPPLEMENT_EVAL_SETS = ("internal_test", "external:site-b", "external:site-c")
CROSS_EVAL_SETS = ("internal_test", "external:site-a", "external:site-c")
#: fixture generators and how much each one "helps" (oracle > reference > noise)
GENERATOR_SKILL = {"oracle": 0.030, "reference-ddpm": 0.015, "label-shuffle": -0.004, "noise": -0.010}
FAKE_SHA = "f" * 64


def task_ref(name: str, *, budget: str = "quick", version: int = 1, label_set: str = "all14") -> TaskRef:
    family, ratio = name.split("/", 1)[1].rsplit("-", 1)
    ratio = int(ratio)
    baseline = None
    if ratio:
        baseline = "phantom/cross_source-0" if family == "cross_source" else "phantom/supplement-0"
    return TaskRef(name=name, version=version, family=family, profile="phantom", budget=budget,
                   supplement_ratio=ratio, label_set=label_set, labels=list(LABEL_SETS[label_set]),
                   uncertainty_policy="ignore", image_size=32, recipe="quick@1", baseline=baseline,
                   spec_sha256=FAKE_SHA)


def _macro_for(task: TaskRef, generator: str, eval_set: str) -> float:
    base = 0.78 if eval_set == "internal_test" else 0.72
    ratio = task.supplement_ratio
    skill = GENERATOR_SKILL.get(generator, 0.0)
    if task.family == "synthetic_only":
        return base - 0.06 + skill * 2.5 * np.log1p(ratio / 100)
    return base + skill * np.log1p(ratio / 100)


def _fingerprints(task_name: str, budget: str) -> dict[str, str]:
    """Fake slice fingerprints, plus the shipped ones of the task when there are some (publish checks those)."""
    from cxrbench.tasking import get_task, split_fingerprints

    fake = {"phantom/site-a/train": "a" * 64, "phantom/site-a/test": "b" * 64}
    try:
        shipped = split_fingerprints(get_task(task_name), budget) or {}
    except Exception:  # noqa: BLE001 - fixture tasks that are not shipped
        shipped = {}
    return {**fake, **shipped}


def make_record(task_name: str, submission: str = "reference-ddpm", *, version: str = "1.0",
                budget: str = "quick", seed: int = 0, label_set: str = "all14",
                n_seeds: int = 3) -> ResultRecord:
    """A sealed, complete, fake record with every section the pages read."""
    rng = np.random.default_rng(zlib.crc32(f"{task_name}|{submission}|{version}|{budget}|{seed}".encode()))
    task = task_ref(task_name, budget=budget, label_set=label_set)
    eval_names = CROSS_EVAL_SETS if task.family == "cross_source" else SUPPLEMENT_EVAL_SETS
    eval_sets, comparisons, subgroups, summaries = [], [], [], []
    for ev in eval_names:
        macro = float(np.clip(_macro_for(task, submission, ev) + rng.normal(0, 0.003), 0.5, 0.99))
        labels = []
        for i, lab in enumerate(task.labels):
            a = float(np.clip(macro + rng.normal(0, 0.04), 0.5, 0.99))
            labels.append(LabelScore(label=lab, auroc=a, ci_low=a - 0.03, ci_high=min(a + 0.03, 1.0),
                                     n=800, n_pos=int(40 + 10 * i)))
        per_seed = [float(macro + rng.normal(0, 0.004)) for _ in range(n_seeds)]
        eval_sets.append(EvalSetScore(eval_set=ev, site=ev.split(":")[-1] if ":" in ev else "site-a",
                                      n_images=800, n_patients=200, macro_auroc=macro,
                                      macro_ci_low=macro - 0.012, macro_ci_high=macro + 0.012,
                                      per_seed_macro_auroc=per_seed, seed_sd=float(np.std(per_seed)),
                                      macro_labels=list(task.labels), labels=labels))
        if task.baseline:
            base_macro = _macro_for(task_ref(task.baseline), submission, ev)
            delta = macro - base_macro
            p = float(min(1.0, np.exp(-abs(delta) * 400)))
            deltas = [LabelDelta(label=ls.label, auroc=ls.auroc, baseline_auroc=ls.auroc - delta,
                                 delta=delta, ci_low=delta - 0.02, ci_high=delta + 0.02, p_value=p,
                                 p_holm=min(1.0, p * 14), significant=p * 14 < 0.05)
                      for ls in labels]
            comparisons.append(Comparison(eval_set=ev, against=task.baseline, delta=delta, ci_low=delta - 0.01,
                                          ci_high=delta + 0.01, p_value=p, mde=0.015, significant=p < 0.05,
                                          endpoint="primary" if ev == "internal_test" else "secondary",
                                          verdict=("better" if delta > 0 else "worse") if p < 0.05 else "inconclusive",
                                          method="fixture", labels=deltas,
                                          significant_labels=[d.label for d in deltas if d.significant]))
        groups = {"sex": ["F", "M"], "age_band": ["18-40", "40-60", "60-80", "80+"],
                  "race": ["Asian", "Black", "White", "Other/Unknown"], "view": ["AP", "PA"]}
        for attr, names in groups.items():
            scores = {g: float(np.clip(macro + rng.normal(0, 0.02), 0.5, 0.99)) for g in names}
            for g, s in scores.items():
                subgroups.append(SubgroupScore(eval_set=ev, attribute=attr, group=g, n=200, n_pos=60,
                                               macro_auroc=s, ci_low=s - 0.03, ci_high=s + 0.03))
            worst = min(scores, key=scores.get)
            summaries.append(SubgroupSummary(eval_set=ev, attribute=attr, worst_group=worst,
                                             worst_macro_auroc=scores[worst],
                                             largest_gap=max(scores.values()) - scores[worst]))
    audit = None
    if task.supplement_ratio:
        skill = GENERATOR_SKILL.get(submission, 0)  # shaped like cxrbench.audit's report
        audit = {"audit_version": "1", "n_synthetic": 1902, "leakage_flag": False,
                 "fidelity": {"frechet_distance": float(5 + 2000 * (0.03 - skill)), "precision": 0.7, "recall": 0.6,
                              "per_finding": {"Edema": {"frechet_distance": 9.0}}},
                 "memorization": {"flag": False, "tolerance": 0.05,
                                  "spaces": [{"space": "pixels-32@1", "share_close": 0.01, "median_nearest_distance": 1.4,
                                              "closest": [{"synthetic": 3, "train": 7}]}]},
                 "config": {"k": 3, "seed": 0}, "seconds": {"fidelity": 85.0}}
    return ResultRecord(
        status="complete", task=task,
        submission=SubmissionRef(name=submission, version=version, kind="generator", sha256=FAKE_SHA,
                                 authors=["fixture"], license="Apache-2.0",
                                 declared_training_data=["phantom/site-a/train"]),
        split_fingerprints=_fingerprints(task_name, budget),
        seeds=list(range(n_seeds)),
        environment=Environment(cxrbench_version="0.1.0", git_sha="0" * 40, python="3.11.9",
                                platform="Linux-x86_64", libraries={"torch": "2.14.1", "numpy": "2.4"},
                                hardware={"cpu_count": 2, "cuda": None}),
        eval_sets=eval_sets, comparisons=comparisons, subgroups=subgroups, subgroup_summaries=summaries,
        audit=audit,
        timings=[StageTiming(stage=s, seconds=float(t)) for s, t in
                 (("generate", 40.0), ("train", 120.0), ("predict", 5.0), ("score", 2.0))],
        # the synthetic set's generation, measured when it was made: 40 s for the task's replicas
        generation=[GenerationRun(replica=r, images=1902, seconds=40.0 / (task.supplement_ratio // 100), set_images=1902,
                                  images_per_second=1902 * (task.supplement_ratio // 100) / 40.0, device="CPU (1 thread)",
                                  generated_at="2026-11-30T09:00:00+00:00")
                    for r in range(task.supplement_ratio // 100)]
        if task.supplement_ratio else [],
        predictions_file=None, predictions_sha256=None,
    ).seal()


STUDY_TASKS = ([f"phantom/supplement-{n}" for n in (0, 100, 200, 300, 500, 1000)]
               + [f"phantom/synthetic_only-{n}" for n in (100, 200, 300, 500, 1000)]
               + [f"phantom/cross_source-{n}" for n in (0, 100, 300)])


def study_records(generators=tuple(GENERATOR_SKILL), tasks=STUDY_TASKS) -> list[ResultRecord]:
    return [make_record(t, g) for t in tasks for g in generators]


def write_predictions(record: ResultRecord, folder: Path, name: str | None = None) -> Path:
    """A small predictions parquet beside a record file, and its hash in the (re-sealed) record."""
    import hashlib

    rows = [{"image_id": f"img{i}", "eval_set": ev.eval_set, "model": "submission", "seed": s,
             **{lab: 0.5 for lab in record.task.labels}}
            for ev in record.eval_sets for s in record.seeds for i in range(3)]
    name = name or f"{record.submission.name}@{record.submission.version}.predictions.parquet"
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    record.predictions_file = name
    record.predictions_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    record.seal()
    return path


def write_evaluated(record: ResultRecord, folder: Path, predictions_name: str | None = None) -> Path:
    """Write a record as `cxrbench evaluate` does: `<task>@<v>/<submission>@<version>.json` with
    `<submission>@<version>.predictions.parquet` beside it."""
    folder = Path(folder) / f"{record.task.name.replace('/', '__')}@{record.task.version}"
    write_predictions(record, folder, predictions_name)
    return write_record(record, folder / f"{record.submission.name}@{record.submission.version}.json")


def tamper(path: Path, **changes) -> None:
    """Edit a written record by hand without resealing it (what a hash check must catch)."""
    raw = json.loads(Path(path).read_text())
    raw["eval_sets"][0].update(changes or {"macro_auroc": 0.99})
    Path(path).write_text(json.dumps(raw, indent=2))


def fill_store(root: Path, records) -> Path:
    """Write records straight into a store folder (bypassing publish: fixtures only)."""
    from cxrbench.leaderboard.store import record_path

    for r in records:
        write_record(r, record_path(root, r))
    return Path(root)


def store_pair(folder: Path, a_rec: ResultRecord, b_rec: ResultRecord) -> list[Comparison]:
    """A pairwise.json holding one fresh pair (a − b), as publish writes it; its comparisons are a's
    own ones against the baseline, renamed (fixture numbers, not a paired test)."""
    from cxrbench.leaderboard.store import pairwise_to_json

    a, b = (f"{r.submission.name}@{r.submission.version}" for r in (a_rec, b_rec))
    comps = [c.model_copy(update={"against": b}) for c in a_rec.comparisons]
    data = {"task": a_rec.task.name, "task_version": a_rec.task.version, "budget": a_rec.task.budget,
            "pairs": [{"a": a, "b": b, "a_sha256": a_rec.content_sha256, "b_sha256": b_rec.content_sha256,
                       "comparisons": comps}]}
    (Path(folder) / "pairwise.json").write_text(pairwise_to_json(data))
    return comps
