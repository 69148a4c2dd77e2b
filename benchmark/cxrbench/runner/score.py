"""The score stage: per-image, per-seed probabilities + labels → every number of a result record.

One inference procedure behind every figure (`cxrbench.stats.seed_patient`, docs/stats.md):
- the estimand is the **seed mean**: the mean over classifier training seeds of the macro AUROC
  (or of one label's AUROC); Δ = seed mean of the submission − seed mean of its baseline;
- its variance has a patient-clustered test-set part (leave-one-patient-out jackknife) and a
  training-seed part; t-test with Welch–Satterthwaite dof; CI = Δ ± t·se, so a CI excludes 0
  exactly when p < 0.05, on every surface;
- labels enter an eval set's macro only with enough positive and negative *patients* there
  (the task's `eligibility`), decided once before any inference; the record lists the rest;
- the task's primary endpoint (`primary` in its YAML) is one comparison; the other eval sets and
  the per-label deltas (Holm over the labels of one eval set) are secondary;
- each comparison carries its minimum detectable effect (80% power, α = 0.05) for its own design,
  and a verdict: better / worse (p < α), inconclusive (not significant, MDE > STUDY_EFFECT),
  no_detectable_difference (not significant, MDE ≤ STUDY_EFFECT).
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
    LabelDelta,
    LabelScore,
    SubgroupScore,
    SubgroupSummary,
)
from cxrbench.runner.datasets import RealSet
from cxrbench.stats.seed_patient import ALPHA
from cxrbench.tasking import EligibilityRule

#: The effect the benchmark exists to detect: the study's +0.02 macro AUROC at 1000%. A
#: non-significant Δ whose MDE is larger is "inconclusive", never "no difference".
STUDY_EFFECT = 0.02
#: A subgroup is compared ("worst group") only when at least this share of the eval set's macro
#: labels are eligible inside it.
SUBGROUP_MIN_LABEL_SHARE = 0.5
#: Per-label Holm flags need at least this many seeds in every multi-seed arm. Below it the
#: per-label t-tests (S − 1 degrees of freedom) are liberal in the far tail that Holm's smallest
#: thresholds use: family-wise 4.6-8.2 % at 4 seeds, 4.2-6.6 % at 5, 3.0-4.8 % at 8 under the
#: seeds-only null, 500 repetitions (docs/stats.md). Fewer seeds: per-label Δ, CI and p are kept,
#: no Holm flag.
MIN_SEEDS_LABEL_TESTS = 5


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


def _eligibility(es: RealSet, labels: tuple[str, ...], rule: EligibilityRule):
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
    elig = _eligibility(es, labels, rule)
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


def verdict(delta: float | None, p: float | None, mde: float | None, alpha: float = ALPHA) -> str:
    """better / worse when significant; else inconclusive unless the design could see STUDY_EFFECT."""
    if p is not None and math.isfinite(p) and p < alpha and delta is not None:
        return "better" if delta > 0 else "worse"
    if mde is None or not math.isfinite(mde) or mde > STUDY_EFFECT:
        return "inconclusive"
    return "no_detectable_difference"


def compare_on(name: str, es: RealSet, labels: tuple[str, ...], stack_a: np.ndarray, stack_b: np.ndarray,
               against: str, *, rule: EligibilityRule, paired_seeds: bool, endpoint: str = "secondary"
               ) -> Comparison:
    """Model A (stack_a, seeds × images × labels) against model B on the same images."""
    from cxrbench.stats import holm
    from cxrbench.stats.seed_patient import METHOD, seed_mean_delta

    y = es.labels(labels)
    patients = es.rows["patient_id"].astype(str).to_numpy()
    elig = _eligibility(es, labels, rule)
    base = dict(eval_set=name, against=against, endpoint=endpoint, n_seeds=int(stack_a.shape[0]),
                n_seeds_against=int(stack_b.shape[0]), paired_seeds=bool(paired_seeds))
    if not elig.included:
        return Comparison(**base, delta=None, method="no label is eligible on this eval set: nothing compared")
    res = seed_mean_delta(y, stack_a, stack_b, patients, labels=labels, eligible=elig.mask(labels),
                          paired_seeds=paired_seeds)
    names = list(res.per_label)
    arms = [n for n in (res.n_seeds_a, res.n_seeds_b) if n > 1]
    label_tests = all(n >= MIN_SEEDS_LABEL_TESTS for n in arms)
    adjusted = dict(zip(names, holm(np.array([res.per_label[n].p_value for n in names], dtype=float)))) \
        if label_tests else dict.fromkeys(names, float("nan"))
    label_deltas = []
    for n in names:
        e = res.per_label[n]
        a_mean, b_mean = res.arm_means[n]
        label_deltas.append(LabelDelta(label=n, auroc=_f(a_mean), baseline_auroc=_f(b_mean), delta=_f(e.estimate),
                                       ci_low=_f(e.ci_low), ci_high=_f(e.ci_high), p_value=_f(e.p_value),
                                       p_holm=_f(adjusted[n]),
                                       significant=bool(np.isfinite(adjusted[n]) and adjusted[n] < ALPHA)))
    m = res.macro
    significant = bool(np.isfinite(m.p_value) and m.p_value < ALPHA)
    return Comparison(
        **base, delta=_f(m.estimate), se=_f(m.se), ci_low=_f(m.ci_low), ci_high=_f(m.ci_high), p_value=_f(m.p_value),
        dof=_f(m.dof), var_test=_f(m.var_test), var_seed=_f(m.var_seed), mde=_f(m.mde), alpha=ALPHA,
        significant=significant, verdict=verdict(_f(m.estimate), _f(m.p_value), _f(m.mde)),
        macro_labels=list(res.macro_labels),
        method=(f"{METHOD}; {'paired' if paired_seeds else 'unpaired'} seeds ({res.n_seeds_a} vs {res.n_seeds_b}); "
                f"macro over the {len(res.macro_labels)} labels with ≥ {rule.min_positive_patients} positive and "
                f"≥ {rule.min_negative_patients} negative patients; "
                + ("per-label tests Holm-corrected over those labels" if label_tests else
                   f"per-label Δ with CI and p only, no Holm flags (fewer than {MIN_SEEDS_LABEL_TESTS} seeds in an "
                   "arm: the per-label tests do not hold their family-wise level there)")),
        labels=label_deltas, significant_labels=[d.label for d in label_deltas if d.significant])


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
               eligibility: EligibilityRule) -> Scored:
    """Every number of a record, from per-seed predictions of the submission and of its baseline.

    Seeds are paired when both arms were trained with the same seed list (reference-recipe runs);
    a submitted classifier (one fixed set of predictions) is compared unpaired.
    """
    out = Scored([], [], [], [])
    paired = sorted(preds) == sorted(base_preds) and len(preds) > 1
    for name, es in eval_sets.items():
        stack = seed_stack(preds, name)
        score = score_eval_set(name, es, labels, stack, eligibility)
        out.eval_sets.append(score)
        if base_preds and against:
            out.comparisons.append(compare_on(
                name, es, labels, stack, seed_stack(base_preds, name), against, rule=eligibility,
                paired_seeds=paired, endpoint="primary" if name == primary_eval_set else "secondary"))
        sub, summ = score_subgroups(name, es, labels, stack, eligibility, score.macro_labels)
        out.subgroups += sub
        out.subgroup_summaries += summ
    return out
