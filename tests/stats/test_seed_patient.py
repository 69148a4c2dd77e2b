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


def test_too_few_seeds_give_no_test():
    """A trained arm with fewer than 3 seeds: no p, CI or MDE, and the reason (its seed variance has < 2 dof)."""
    rng = np.random.default_rng(11)
    y, patients, disease, pe = _design(rng)
    for s in (1, 2):
        a, b = _arm(rng, disease, pe, s, skill=1.5), _arm(rng, disease, pe, s)
        res = seed_mean_delta(y, a, b, patients, labels=LABELS, eligible=[True] * 3, paired_seeds=s > 1)
        for e in (res.macro, *res.per_label.values()):
            assert np.isnan(e.p_value) and np.isnan(e.ci_low) and np.isnan(e.mde) and np.isnan(e.se)
            assert e.reason.startswith(f"too few seeds ({s}); use ≥ 3, ≥ 5 for per-label tests")
            assert e.estimate > 0  # the estimate itself is still reported
    a, b = _arm(rng, disease, pe, 3), _arm(rng, disease, pe, 3)
    assert np.isfinite(seed_mean_delta(y, a, b, patients, labels=LABELS, eligible=[True] * 3,
                                       paired_seeds=True).macro.p_value)


def test_degrees_of_freedom_never_exceed_the_seed_spread():
    rng = np.random.default_rng(12)
    y, patients, disease, pe = _design(rng)
    a, b = _arm(rng, disease, pe, 5, skill=1.3), _arm(rng, disease, pe, 5)
    paired = seed_mean_delta(y, a, b, patients, labels=LABELS, eligible=[True] * 3, paired_seeds=True)
    assert paired.macro.var_test > 0  # a test part, yet it adds no degrees of freedom
    assert all(e.dof == 4 for e in (paired.macro, *paired.per_label.values()))
    unpaired = seed_mean_delta(y, a, b[:4], patients, labels=LABELS, eligible=[True] * 3, paired_seeds=False)
    assert all(3 <= e.dof <= 7 for e in (unpaired.macro, *unpaired.per_label.values()))


def test_a_fixed_model_has_no_seed_part_and_is_tested_against_the_recipes_seeds():
    rng = np.random.default_rng(13)
    y, patients, disease, pe = _design(rng)
    frozen, recipe = _arm(rng, disease, pe, 1, skill=1.4), _arm(rng, disease, pe, 5)
    res = seed_mean_delta(y, frozen, recipe, patients, labels=LABELS, eligible=[True] * 3, paired_seeds=False,
                          fixed_a=True)
    assert np.isfinite(res.macro.p_value) and res.macro.dof == 4 and "one fixed model" in res.macro.reason
    # the same single run as a trained arm: too few seeds
    trained = seed_mean_delta(y, frozen, recipe, patients, labels=LABELS, eligible=[True] * 3, paired_seeds=False)
    assert np.isnan(trained.macro.p_value) and "too few seeds (1)" in trained.macro.reason
    with pytest.raises(StatsError, match="fixed model but has 5 sets"):
        seed_mean_delta(y, recipe, recipe, patients, labels=LABELS, eligible=[True] * 3, paired_seeds=False,
                        fixed_a=True)


def test_identical_predictions_have_zero_variance_and_no_test():
    rng = np.random.default_rng(14)
    y, patients, disease, pe = _design(rng)
    a = _arm(rng, disease, pe, 5)
    res = seed_mean_delta(y, a, a.copy(), patients, labels=LABELS, eligible=[True] * 3, paired_seeds=True)
    for e in (res.macro, *res.per_label.values()):
        assert e.estimate == 0 and np.isnan(e.p_value) and np.isnan(e.mde) and "zero variance" in e.reason


def test_a_constant_eligible_label_is_undefined_not_an_error():
    rng = np.random.default_rng(15)
    y, patients, disease, pe = _design(rng)
    y[:, 1] = np.where(np.isnan(y[:, 1]), np.nan, 0.0)
    a, b = _arm(rng, disease, pe, 5, skill=1.5), _arm(rng, disease, pe, 5)
    res = seed_mean_delta(y, a, b, patients, labels=LABELS, eligible=[True] * 3, paired_seeds=True)
    assert np.isnan(res.per_label["b"].estimate) and "needs both classes" in res.per_label["b"].reason
    assert np.isnan(res.macro.estimate) and np.isnan(res.macro.mde) and "macro undefined" in res.macro.reason
    assert np.isfinite(res.per_label["a"].p_value)


def test_shape_errors_name_the_array_and_both_shapes():
    rng = np.random.default_rng(16)
    y, patients, disease, pe = _design(rng)
    a = _arm(rng, disease, pe, 3)
    with pytest.raises(StatsError, match=r"stack_b: shape \(3, 899, 3\) does not match .*\(900, 3\)"):
        seed_mean_delta(y, a, a[:, 1:], patients, labels=LABELS, eligible=[True] * 3, paired_seeds=True)
    with pytest.raises(StatsError, match=r"stack_a: shape \(900, 3\) does not match"):
        seed_mean_delta(y, a[0], a, patients, labels=LABELS, eligible=[True] * 3, paired_seeds=False)
    with pytest.raises(StatsError, match=r"patient_ids: expected 900 ids .* got shape \(899,\)"):
        seed_mean_delta(y, a, a, patients[1:], labels=LABELS, eligible=[True] * 3, paired_seeds=True)
    with pytest.raises(StatsError, match=r"eligible: shape \(2,\) does not match the labels' 3"):
        seed_mean_delta(y, a, a, patients, labels=LABELS, eligible=[True] * 2, paired_seeds=True)
    bad = a.copy()
    bad[2, 17, 1] = np.inf
    with pytest.raises(StatsError, match=r"stack_b\[seed 2\]: non-finite score inf at row 17, label 1"):
        seed_mean_delta(y, a, bad, patients, labels=LABELS, eligible=[True] * 3, paired_seeds=True)
