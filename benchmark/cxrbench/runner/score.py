"""The score stage: per-image, per-seed probabilities + labels → every number of a result record.

One inference procedure behind every figure (`cxrbench.stats.seed_patient`, docs/stats.md):
- the estimand is the **seed mean**: the mean over classifier training seeds of the macro AUROC
  (or of one label's AUROC); Δ = seed mean of the submission − seed mean of its baseline;
- its variance has a patient-clustered test-set part (leave-one-patient-out jackknife) and a
  training-seed part; a difference is t-tested at the seed part's degrees of freedom; CI = Δ ± t·se,
  so a CI excludes 0 exactly when p < 0.05, on every surface;
- arms are put side by side by image id and seed (`cxrbench.stats.arms`), never by row position;
- a trained arm with fewer than MIN_SEEDS seeds gives no test (no p, stars or Holm flags: verdict
  `inconclusive` with the reason); per-label Holm flags need MIN_SEEDS_LABEL_TESTS seeds;
- labels enter an eval set's macro only with enough positive and negative *patients* there
  (the task's `eligibility`), decided once before any inference; the record lists the rest;
- the task's primary endpoint (`primary` in its YAML) is one comparison; the other eval sets and
  the per-label deltas (Holm over the labels of one eval set) are secondary;
- each comparison carries its minimum detectable effect (the Δ its test detects with 80% power at
  α = 0.05) and a verdict: better / worse (p < α), inconclusive (no test, with the reason; or not
  significant with MDE > STUDY_EFFECT), no_detectable_difference (not significant, MDE ≤ STUDY_EFFECT).
Rows labelled -1 (uncertain) or NaN (not mentioned) are dropped per label, as the study did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cxrbench.results import (
    Comparison,
    EvalSetScore,
    ExcludedLabel,
    LabelScore,
    SubgroupScore,
    SubgroupSummary,
)
from cxrbench.runner.comparison import STUDY_EFFECT, compare_on, verdict  # noqa: F401 (public here too)
from cxrbench.runner.comparison import json_float as _f
from cxrbench.runner.datasets import RealSet
from cxrbench.tasking import EligibilityRule

#: A subgroup is compared ("worst group") only when at least this share of the eval set's macro
#: labels are eligible inside it.
SUBGROUP_MIN_LABEL_SHARE = 0.5


@dataclass
class Scored:
    eval_sets: list[EvalSetScore]
    comparisons: list[Comparison]
    subgroups: list[SubgroupScore]
    subgroup_summaries: list[SubgroupSummary]


def seed_stack(preds: dict[int, dict[str, np.ndarray]], eval_set: str) -> np.ndarray:
    """(S, N, L) probabilities of one eval set, seeds in sorted order."""
    return np.stack([preds[s][eval_set] for s in sorted(preds)])


def eligibility(es: RealSet, labels: tuple[str, ...], rule: EligibilityRule):
    from cxrbench.stats.seed_patient import eligible_labels

    return eligible_labels(es.labels(labels), es.rows["patient_id"].astype(str).to_numpy(), labels,
                           min_positive=rule.min_positive_patients, min_negative=rule.min_negative_patients)


def score_eval_set(name: str, es: RealSet, labels: tuple[str, ...], stack: np.ndarray,
                   rule: EligibilityRule) -> EvalSetScore:
    """Seed-mean macro and per-label AUROC of one arm on one eval set, with CIs."""
    from cxrbench.stats import auroc
    from cxrbench.stats.seed_patient import METHOD, seed_mean

    y = es.labels(labels)
    patients = es.rows["patient_id"].astype(str).to_numpy()
    elig = eligibility(es, labels, rule)
    per_seed_full = [auroc(y, s, labels=labels) for s in stack]
    defined = {la.label: la for la in per_seed_full[0].per_label}
    res = seed_mean(y, stack, patients, labels=labels, eligible=elig.mask(labels)) if elig.included else None
    label_scores = []
    for j, name_l in enumerate(labels):
        la = defined[name_l]
        est = res.per_label.get(name_l) if res is not None else None
        mean = np.mean([r.per_label[j].auroc for r in per_seed_full]) if la.reason is None else None
        label_scores.append(LabelScore(
            label=name_l, auroc=_f(est.estimate if est else mean), ci_low=_f(est.ci_low) if est else None,
            ci_high=_f(est.ci_high) if est else None, n=la.n, n_pos=la.n_pos,
            positive_patients=elig.positive_patients[name_l], negative_patients=elig.negative_patients[name_l],
            in_macro=name_l in elig.included, undefined_reason=la.reason))
    per_seed = ([_f(np.mean([r.per_label[j].auroc for j in range(len(labels)) if labels[j] in elig.included]))
                 for r in per_seed_full] if elig.included else [])
    finite = [v for v in per_seed if v is not None]
    return EvalSetScore(
        eval_set=name, site=es.ref.site or es.ref.source, n_images=len(es), n_patients=int(len(set(patients))),
        macro_auroc=_f(res.macro.estimate) if res else None, macro_ci_low=_f(res.macro.ci_low) if res else None,
        macro_ci_high=_f(res.macro.ci_high) if res else None, macro_se=_f(res.macro.se) if res else None,
        per_seed_macro_auroc=per_seed, seed_sd=_f(np.std(finite, ddof=1)) if len(finite) > 1 else None,
        macro_labels=list(elig.included),
        excluded_labels=[ExcludedLabel(label=n, positive_patients=elig.positive_patients[n],
                                       negative_patients=elig.negative_patients[n]) for n in elig.excluded],
        labels=label_scores, method=METHOD)


def score_subgroups(name: str, es: RealSet, labels: tuple[str, ...], stack: np.ndarray, rule: EligibilityRule,
                    macro_labels: list[str]) -> tuple[list[SubgroupScore], list[SubgroupSummary]]:
    """Seed-mean macro AUROC per sex, age band, race and view group, each over its own eligible labels.

    The worst / best group and the gap are named only among groups in which at least
    SUBGROUP_MIN_LABEL_SHARE of the eval set's macro labels are eligible, on the labels eligible in
    all of them, and only when there are at least two such groups.
    """
    from cxrbench.stats.seed_patient import eligible_labels, seed_mean
    from cxrbench.stats.subgroups import age_band

    y = es.labels(labels)
    patients = es.rows["patient_id"].astype(str).to_numpy()
    columns = {"sex": es.rows["sex"].astype(str).to_numpy(), "age_band": age_band(es.rows["age"].to_numpy(np.float64)),
               "race": es.rows["race"].astype(str).to_numpy(), "view": es.rows["view"].astype(str).to_numpy()}
    scores, summaries = [], []
    for attribute, values in columns.items():
        groups = {}
        for group in sorted(set(values.tolist())):
            rows = values == group
            elig = eligible_labels(y[rows], patients[rows], labels, min_positive=rule.min_positive_patients,
                                   min_negative=rule.min_negative_patients)
            res = None
            if elig.included:
                res = seed_mean(y[rows], stack[:, rows], patients[rows], labels=labels, eligible=elig.mask(labels))
            groups[group] = (rows, elig, res)
            scores.append(SubgroupScore(
                eval_set=name, attribute=attribute, group=str(group), n=int(rows.sum()),
                n_patients=int(len(set(patients[rows]))), n_pos=int(np.nansum(y[rows] == 1)),
                macro_auroc=_f(res.macro.estimate) if res else None, ci_low=_f(res.macro.ci_low) if res else None,
                ci_high=_f(res.macro.ci_high) if res else None, n_labels=len(elig.included),
                macro_labels=list(elig.included),
                undefined_reason=None if res else (f"no label has ≥ {rule.min_positive_patients} positive and "
                                                   f"≥ {rule.min_negative_patients} negative patients in this group")))
        summaries.append(_summary(name, attribute, groups, macro_labels, stack, y, labels))
    return scores, summaries


def _summary(name, attribute, groups, macro_labels, stack, y, labels) -> SubgroupSummary:
    from cxrbench.stats import auroc

    need = max(1, math.ceil(SUBGROUP_MIN_LABEL_SHARE * len(macro_labels)))
    compared = [g for g, (_, elig, _) in groups.items()
                if len(set(elig.included) & set(macro_labels)) >= need]
    common = [n for n in macro_labels if all(n in groups[g][1].included for g in compared)]
    if len(compared) < 2 or not common:
        why = (f"fewer than two {attribute} groups have ≥ {need} of the {len(macro_labels)} macro labels eligible"
               if len(compared) < 2 else "no label is eligible in every compared group")
        return SubgroupSummary(eval_set=name, attribute=attribute, worst_group=None, worst_macro_auroc=None,
                               largest_gap=None, compared_groups=compared, common_labels=common, reason=why)
    idx = [labels.index(n) for n in common]
    macro = {}
    for g in compared:
        rows = groups[g][0]
        macro[g] = float(np.mean([np.mean([auroc(y[rows][:, j], s[rows][:, j]).macro for j in idx]) for s in stack]))
    worst, best = min(macro, key=macro.get), max(macro, key=macro.get)
    return SubgroupSummary(eval_set=name, attribute=attribute, worst_group=worst, worst_macro_auroc=macro[worst],
                           best_group=best, best_macro_auroc=macro[best], largest_gap=macro[best] - macro[worst],
                           compared_groups=compared, common_labels=common)


def score_task(*, eval_sets: dict[str, RealSet], labels: tuple[str, ...], preds: dict[int, dict[str, np.ndarray]],
               base_preds: dict[int, dict[str, np.ndarray]], against: str | None, primary_eval_set: str,
               eligibility: EligibilityRule, fixed_submission: bool = False) -> Scored:
    """Every number of a record, from per-seed predictions of the submission and of its baseline
    (each array in its eval set's row order, checked when it was loaded).

    Seeds are paired when both arms are recipes trained on the same seeds (reference-recipe runs, a
    fitted classifier); `fixed_submission`: the submission is one fixed model (a frozen classifier,
    one set of predictions), compared unpaired and without a seed part.
    """
    from cxrbench.stats.arms import Arm

    out = Scored([], [], [], [])
    for name, es in eval_sets.items():
        stack = seed_stack(preds, name)
        score = score_eval_set(name, es, labels, stack, eligibility)
        out.eval_sets.append(score)
        if base_preds and against:
            ids = es.rows["image_id"].astype(str).to_numpy()
            out.comparisons.append(compare_on(
                name, es, labels, Arm(stack, ids, tuple(sorted(preds)), fixed=fixed_submission),
                Arm(seed_stack(base_preds, name), ids, tuple(sorted(base_preds))), against, rule=eligibility,
                endpoint="primary" if name == primary_eval_set else "secondary"))
        sub, summ = score_subgroups(name, es, labels, stack, eligibility, score.macro_labels)
        out.subgroups += sub
        out.subgroup_summaries += summ
    return out
