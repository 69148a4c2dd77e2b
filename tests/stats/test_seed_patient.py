"""The seed × patient inference behind every reported figure (cxrbench.stats.seed_patient)."""

import numpy as np
import pytest

from cxrbench.stats import StatsError, auroc, delong_ci
from cxrbench.stats.seed_patient import design_mde, eligible_labels, seed_mean, seed_mean_delta

LABELS = ("a", "b", "c")


def _design(rng, n_patients=300, images=3, n_labels=3):
    """Patients with correlated images; labels 1/0 with some -1 / NaN."""
    patients = np.repeat(np.arange(n_patients), images)
    disease = rng.random((n_patients, n_labels)) < 0.3
    y = disease[patients].astype(float)
    flip = rng.random(y.shape)
    y[flip < 0.05] = -1
    y[(flip >= 0.05) & (flip < 0.10)] = np.nan
    patient_effect = rng.normal(0, 1, (n_patients, n_labels))[patients]
    return y, patients.astype(str), disease[patients], patient_effect


def _arm(rng, disease, patient_effect, seeds, skill=1.0, seed_sd=0.15):
    """(S, N, L) scores: each seed a model with its own skill and its own image-level noise."""
    out = []
    for _ in range(seeds):
        s = skill + rng.normal(0, seed_sd)
        out.append(s * disease + 0.7 * patient_effect + rng.normal(0, 1, disease.shape))
    return np.stack(out)


def test_one_arm_one_seed_matches_delong_single_image_patients():
    rng = np.random.default_rng(0)
    y, patients, disease, pe = _design(rng, n_patients=400, images=1, n_labels=1)
    y[np.isnan(y) | (y == -1)] = 0
    stack = _arm(rng, disease, pe, 1)
    res = seed_mean(y, stack, patients, labels=("a",), eligible=[True])
    ref = delong_ci(y[:, 0], stack[0, :, 0])
    assert res.macro.estimate == pytest.approx(ref.auc, abs=1e-12)
    # the leave-one-patient-out jackknife variance of an AUROC is DeLong's up to O(1/n)
    assert res.macro.se == pytest.approx(ref.se, rel=0.02)
    assert res.macro.var_seed == 0 and "one seed" in res.macro.reason


def test_seed_mean_is_mean_of_per_seed_macro_over_eligible_labels():
    rng = np.random.default_rng(1)
    y, patients, disease, pe = _design(rng)
    stack = _arm(rng, disease, pe, 4)
    elig = [True, False, True]
    res = seed_mean(y, stack, patients, labels=LABELS, eligible=elig)
    per_seed = [np.mean([auroc(y[:, j], s[:, j]).macro for j in (0, 2)]) for s in stack]
    assert res.macro.estimate == pytest.approx(np.mean(per_seed), abs=1e-12)
    assert res.macro_labels == ("a", "c") and set(res.per_label) == {"a", "c"}


def test_ci_excludes_zero_exactly_when_p_below_alpha():
    rng = np.random.default_rng(2)
    for k in range(40):
        y, patients, disease, pe = _design(rng, n_patients=150)
        a = _arm(rng, disease, pe, 3, skill=1.0 + 0.1 * (k % 4))
        b = _arm(rng, disease, pe, 3)
        res = seed_mean_delta(y, a, b, patients, labels=LABELS, eligible=[True] * 3, paired_seeds=True)
        for e in (res.macro, *res.per_label.values()):
            assert (e.ci_low > 0 or e.ci_high < 0) == (e.p_value < 0.05)


def test_mde_is_power_80_distance():
    assert design_mde(0.01, float("inf")) == pytest.approx(0.01 * (1.959964 + 0.841621), rel=1e-5)
    assert design_mde(0.01, 4) > design_mde(0.01, 40) > design_mde(0.01, float("inf"))


@pytest.mark.parametrize("paired", [True, False])
def test_null_rejection_rate_holds_its_level(paired):
    """Two arms that differ only in their training seeds: rejects ≈ 5% of true nulls."""
    rng = np.random.default_rng(3 + paired)
    p = []
    for _ in range(400):
        y, patients, disease, pe = _design(rng, n_patients=120)
        a = _arm(rng, disease, pe, 5)
        b = _arm(rng, disease, pe, 5)
        p.append(seed_mean_delta(y, a, b, patients, labels=LABELS, eligible=[True] * 3,
                                 paired_seeds=paired).macro.p_value)
    rate = np.mean(np.array(p) < 0.05)
    assert 0.025 <= rate <= 0.075, rate


def test_null_rejection_rate_without_seed_variance():
    """No seed-to-seed skill spread: the test-set part alone must carry the level (no double counting)."""
    rng = np.random.default_rng(7)
    p = []
    for _ in range(400):
        y, patients, disease, pe = _design(rng, n_patients=120)
        a = _arm(rng, disease, pe, 5, seed_sd=0.0)
        b = _arm(rng, disease, pe, 5, seed_sd=0.0)
        p.append(seed_mean_delta(y, a, b, patients, labels=LABELS, eligible=[True] * 3,
                                 paired_seeds=True).macro.p_value)
    rate = np.mean(np.array(p) < 0.05)
    assert 0.025 <= rate <= 0.075, rate


def test_eligibility_counts_patients_not_images():
    y = np.array([[1], [1], [1], [0], [0], [-1]], float)
    patients = np.array(["p1", "p1", "p2", "p3", "p3", "p4"])
    e = eligible_labels(y, patients, ("a",), min_positive=2, min_negative=2)
    assert e.positive_patients == {"a": 2} and e.negative_patients == {"a": 1}
    assert e.included == () and e.excluded == ("a",)


def test_bad_input_is_one_clear_error():
    rng = np.random.default_rng(5)
    y, patients, disease, pe = _design(rng)
    a = _arm(rng, disease, pe, 3)
    with pytest.raises(StatsError, match="paired_seeds"):
        seed_mean_delta(y, a, a[:2], patients, labels=LABELS, eligible=[True] * 3, paired_seeds=True)
    with pytest.raises(StatsError, match="no eligible label"):
        seed_mean(y, a, patients, labels=LABELS, eligible=[False] * 3)
