"""The score stage: per-image probabilities + labels → the numbers of a result record.

Policy (the study's, documented in README "How scoring works"):
- rows labelled -1 (uncertain) or NaN (not mentioned) are dropped per label;
- a model trained with several seeds is scored on its *seed-ensembled* predictions (the mean
  probability over seeds); the per-seed macro AUROCs are reported beside it (mean, sd);
- macro AUROC CI: patient-clustered bootstrap; per-label CI: DeLong;
- Δ vs another model on the same images: paired patient-clustered bootstrap (CI, p), per-label
  DeLong tests with Holm correction across labels, and a seed-aware p-value that resamples
  both seeds and patients (`cxrbench.stats.compare_submissions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cxrbench.results import Comparison, EvalSetScore, LabelDelta, LabelScore, SubgroupScore, SubgroupSummary
from cxrbench.runner.datasets import RealSet

ALPHA = 0.05


def _f(x) -> float | None:
    """JSON-safe float: NaN/inf become None (undefined)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class Scored:
    eval_sets: list[EvalSetScore]
    comparisons: list[Comparison]
    subgroups: list[SubgroupScore]
    subgroup_summaries: list[SubgroupSummary]


def seed_stack(preds: dict[int, dict[str, np.ndarray]], eval_set: str) -> np.ndarray:
    """(S, N, L) probabilities of one eval set, seeds in sorted order."""
    return np.stack([preds[s][eval_set] for s in sorted(preds)])


def score_eval_set(name: str, es: RealSet, labels: tuple[str, ...], stack: np.ndarray, n_boot: int) -> EvalSetScore:
    from cxrbench.stats import auroc, bootstrap_auroc, delong_ci

    y = es.labels(labels)
    patients = es.rows["patient_id"].astype(str).to_numpy()
    mean = stack.mean(axis=0)
    overall = auroc(y, mean, labels=labels)
    cis = delong_ci(y, mean, labels=labels)
    per_seed = [_f(auroc(y, s, labels=labels).macro) for s in stack]
    finite = [v for v in per_seed if v is not None]
    label_scores = [
        LabelScore(label=la.label, auroc=_f(la.auroc), ci_low=_f(ci.ci_low), ci_high=_f(ci.ci_high), n=la.n,
                   n_pos=la.n_pos, undefined_reason=la.reason)
        for la, ci in zip(overall.per_label, cis)
    ]
    boot = bootstrap_auroc(y, mean, patients, labels=labels, n_replicates=n_boot, seed=0)
    return EvalSetScore(
        eval_set=name, site=es.ref.site or es.ref.source, n_images=len(es), n_patients=int(len(set(patients))),
        macro_auroc=_f(overall.macro), macro_ci_low=_f(boot.ci_percentile[0]), macro_ci_high=_f(boot.ci_percentile[1]),
        per_seed_macro_auroc=per_seed, seed_mean=_f(np.mean(finite)) if finite else None,
        seed_sd=_f(np.std(finite, ddof=1)) if len(finite) > 1 else None, labels=label_scores)


def compare_on(name: str, es: RealSet, labels: tuple[str, ...], stack_a: np.ndarray, stack_b: np.ndarray,
               against: str, n_boot: int) -> Comparison:
    """Model A (stack_a, seeds × images × labels) against model B on the same images."""
    from cxrbench.stats import compare_submissions, delong, holm, paired_bootstrap

    y = es.labels(labels)
    patients = es.rows["patient_id"].astype(str).to_numpy()
    mean_a, mean_b = stack_a.mean(axis=0), stack_b.mean(axis=0)
    boot = paired_bootstrap(y, mean_a, mean_b, patients, labels=labels, n_replicates=n_boot, seed=0)
    tests = delong(y, mean_a, mean_b, labels=labels)
    raw_p = np.array([c.p_value for c in tests.comparisons], dtype=float)
    adjusted = holm(raw_p)
    label_deltas = []
    for c, p_adj in zip(tests.comparisons, adjusted):
        label_deltas.append(LabelDelta(label=c.label, auroc=_f(c.auc_a), baseline_auroc=_f(c.auc_b), delta=_f(c.delta),
                                       p_value=_f(c.p_value), p_holm=_f(p_adj),
                                       significant=bool(np.isfinite(p_adj) and p_adj < ALPHA)))
    seed_aware = None
    if len(stack_a) > 1 or len(stack_b) > 1:
        # Reference runs of A and B share training seeds (same recipe, same seed list): paired.
        paired = len(stack_a) == len(stack_b)
        seed_aware = _f(compare_submissions(y, stack_a, stack_b, patients, labels=labels, paired_seeds=paired,
                                            n_replicates=n_boot, seed=0).p_value)
    return Comparison(
        eval_set=name, against=against, delta_macro_auroc=_f(boot.delta), bootstrap_ci_low=_f(boot.ci_percentile[0]),
        bootstrap_ci_high=_f(boot.ci_percentile[1]), bootstrap_p_value=_f(boot.p_value), seed_aware_p_value=seed_aware,
        method=(f"Δ = macro AUROC(seed-mean A) − macro AUROC(seed-mean B); {n_boot} patient-clustered paired "
                f"bootstrap replicates, percentile CI, p {boot.p_value_method}; per-label DeLong, Holm across labels; "
                f"seed-aware p resamples seeds and patients"),
        labels=label_deltas, significant_labels=[d.label for d in label_deltas if d.significant])


def score_subgroups(name: str, es: RealSet, labels: tuple[str, ...], mean: np.ndarray,
                    n_boot: int) -> tuple[list[SubgroupScore], list[SubgroupSummary]]:
    """Macro AUROC per sex, age band, race and view group, with clustered-bootstrap CIs."""
    from cxrbench.stats import StatsError, subgroup_auroc

    y = es.labels(labels)
    patients = es.rows["patient_id"].astype(str).to_numpy()
    meta = {"sex": es.rows["sex"].astype(str).to_numpy(), "age": es.rows["age"].to_numpy(np.float64),
            "race": es.rows["race"].astype(str).to_numpy(), "view": es.rows["view"].astype(str).to_numpy()}
    try:
        report = subgroup_auroc(y, mean, meta, attributes=["sex", "age_band", "race", "view"], labels=labels,
                                patient_ids=patients, n_replicates=min(n_boot, 500), seed=0)
    except StatsError:
        return [], []
    scores, summaries = [], []
    for attr in report.attributes:
        for g in attr.groups:
            scores.append(SubgroupScore(
                eval_set=name, attribute=attr.attribute, group=str(g.group), n=g.n,
                n_pos=int(sum(la.n_pos for la in g.per_label)), macro_auroc=_f(g.macro), ci_low=_f(g.macro_ci[0]),
                ci_high=_f(g.macro_ci[1]), undefined_reason=g.reason))
        summaries.append(SubgroupSummary(eval_set=name, attribute=attr.attribute, worst_group=attr.worst_group,
                                         worst_macro_auroc=_f(attr.worst_macro), largest_gap=_f(attr.gap)))
    return scores, summaries


def score_task(*, eval_sets: dict[str, RealSet], labels: tuple[str, ...], preds: dict[int, dict[str, np.ndarray]],
               base_preds: dict[int, dict[str, np.ndarray]], against: str | None, n_boot: int) -> Scored:
    """Every number of a record, from per-seed predictions of the submission and of its baseline."""
    out = Scored([], [], [], [])
    for name, es in eval_sets.items():
        stack = seed_stack(preds, name)
        out.eval_sets.append(score_eval_set(name, es, labels, stack, n_boot))
        if base_preds and against:
            out.comparisons.append(compare_on(name, es, labels, stack, seed_stack(base_preds, name), against, n_boot))
        sub, summ = score_subgroups(name, es, labels, stack.mean(axis=0), n_boot)
        out.subgroups += sub
        out.subgroup_summaries += summ
    return out
