"""One comparison of a record: arm A (the submission) against arm B (its baseline) on one eval set.

`compare_on` aligns both arms by image id and seed (`cxrbench.stats.arms`), runs the seed × patient
inference (`cxrbench.stats.seed_patient.seed_mean_delta`) and turns its estimates into the record's
`Comparison` (`comparison_from`): Δ with CI, p, MDE, verdict and its reason, per-label Δ with Holm
flags where the seeds allow them, and the method text. `comparison_from` is the one place that
decides a verdict, stars' p-value and Holm flags from the estimates, whatever computed them.
"""

from __future__ import annotations

import math

import numpy as np

from cxrbench.results import Comparison, Endpoint, LabelDelta, Verdict
from cxrbench.runner.datasets import RealSet
from cxrbench.stats.power import ALPHA
from cxrbench.tasking import EligibilityRule

#: The effect the benchmark exists to detect: the study's +0.02 macro AUROC at 1000%. A
#: non-significant Δ whose MDE is larger is "inconclusive", never "no difference".
STUDY_EFFECT = 0.02


def json_float(x) -> float | None:
    """JSON-safe float: NaN/inf become None (undefined)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


_f = json_float

def verdict(delta: float | None, p: float | None, mde: float | None, reason: str | None = None,
            alpha: float = ALPHA) -> tuple[Verdict, str | None]:
    """(verdict, why): better / worse when significant; inconclusive when there is no test (`reason`
    says why: too few seeds, zero variance) or the design could not see STUDY_EFFECT; else
    no_detectable_difference."""
    if p is None or not math.isfinite(p):
        return "inconclusive", reason or "no test"
    if p < alpha and delta is not None:
        return ("better" if delta > 0 else "worse"), None
    if mde is None or not math.isfinite(mde):
        return "inconclusive", reason or "MDE undefined"
    return ("inconclusive" if mde > STUDY_EFFECT else "no_detectable_difference"), None


def _method(res, rule: EligibilityRule, fixed: tuple[bool, bool], label_tests: bool, no_test: str | None) -> str:
    from cxrbench.stats.seed_patient import DELTA_METHOD, MIN_SEEDS_LABEL_TESTS

    parts = [DELTA_METHOD, f"{'paired' if res.paired_seeds else 'unpaired'} seeds ({res.n_seeds_a} vs {res.n_seeds_b})"]
    parts += [f"arm {n} is one fixed model (a frozen classifier): it has no training-seed variance"
              for n, is_fixed in zip("AB", fixed) if is_fixed]
    parts.append(f"macro over the {len(res.macro_labels)} labels with ≥ {rule.min_positive_patients} positive and "
                 f"≥ {rule.min_negative_patients} negative patients")
    if no_test is not None:
        parts.append(f"no test: {no_test}")
    elif label_tests:
        parts.append("per-label tests Holm-corrected over those labels")
    else:
        parts.append(f"per-label Δ with CI and p only, no Holm flags (fewer than {MIN_SEEDS_LABEL_TESTS} seeds in a "
                     "trained arm: the per-label tests do not hold their family-wise level there)")
    return "; ".join(parts)


def compare_on(name: str, es: RealSet, labels: tuple[str, ...], arm_a, arm_b, against: str, *,
               rule: EligibilityRule, endpoint: Endpoint = "secondary") -> Comparison:
    """Arm A (`cxrbench.stats.arms.Arm`: scores, image ids, seeds) against arm B on eval set `es`.

    Both arms are aligned to `es`'s rows by image id, and paired by seed when both are recipes
    trained on the same seeds; StatsError names the first image id, shape or score that disagrees.
    """
    from cxrbench.runner.score import eligibility
    from cxrbench.stats.arms import align, pair
    from cxrbench.stats.seed_patient import seed_mean_delta

    y = es.labels(labels)
    patients = es.rows["patient_id"].astype(str).to_numpy()
    ids = es.rows["image_id"].astype(str).to_numpy()
    stack_a, stack_b, paired = pair(arm_a, arm_b, align(arm_a, ids, labels, name="arm A"),
                                    align(arm_b, ids, labels, name="arm B"))
    elig = eligibility(es, labels, rule)
    if not elig.included:
        return Comparison(eval_set=name, against=against, endpoint=endpoint, n_seeds=int(stack_a.shape[0]),
                          n_seeds_against=int(stack_b.shape[0]), paired_seeds=bool(paired), delta=None, verdict_reason="no label is eligible on this eval set",
                          method="no label is eligible on this eval set: nothing compared")
    res = seed_mean_delta(y, stack_a, stack_b, patients, labels=labels, eligible=elig.mask(labels),
                          paired_seeds=paired, fixed_a=arm_a.fixed, fixed_b=arm_b.fixed)
    return comparison_from(res, name=name, against=against, endpoint=endpoint, rule=rule,
                           fixed=(arm_a.fixed, arm_b.fixed))


def comparison_from(res, *, name: str, against: str, endpoint: Endpoint, rule: EligibilityRule,
                    fixed: tuple[bool, bool] = (False, False)) -> Comparison:
    """The record's Comparison from the estimates of `seed_mean_delta` (a `SeedPatientResult`): Δ with
    CI, p, MDE, verdict and reason; per-label Δ with Holm flags when every trained arm has
    MIN_SEEDS_LABEL_TESTS seeds; no test at all when a trained arm has fewer than MIN_SEEDS."""
    from cxrbench.stats import holm
    from cxrbench.stats.seed_patient import MIN_SEEDS, MIN_SEEDS_LABEL_TESTS, too_few_seeds

    trained = [n for n, is_fixed in zip((res.n_seeds_a, res.n_seeds_b), fixed) if not is_fixed]
    no_test = too_few_seeds(min(trained)) if trained and min(trained) < MIN_SEEDS else None
    label_tests = no_test is None and all(n >= MIN_SEEDS_LABEL_TESTS for n in trained)
    names = list(res.per_label)
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
    word, why = verdict(_f(m.estimate), _f(m.p_value), _f(m.mde), m.reason)
    return Comparison(
        eval_set=name, against=against, endpoint=endpoint, n_seeds=res.n_seeds_a, n_seeds_against=res.n_seeds_b,
        paired_seeds=bool(res.paired_seeds), delta=_f(m.estimate), se=_f(m.se), ci_low=_f(m.ci_low),
        ci_high=_f(m.ci_high), p_value=_f(m.p_value), dof=_f(m.dof), var_test=_f(m.var_test),
        var_seed=_f(m.var_seed), mde=_f(m.mde), alpha=ALPHA,
        significant=bool(np.isfinite(m.p_value) and m.p_value < ALPHA), verdict=word, verdict_reason=why,
        macro_labels=list(res.macro_labels), method=_method(res, rule, fixed, label_tests, no_test),
        labels=label_deltas, significant_labels=[d.label for d in label_deltas if d.significant])
