"""Clustered paired bootstrap: every replicate against a materialised resample scored by sklearn."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr, ndtri
from sklearn.metrics import roc_auc_score

from cxrbench.stats import StatsError, bootstrap_auroc, paired_bootstrap
from cxrbench.stats._weighted import patient_count_blocks
from cxrbench.stats.bootstrap import bootstrap_aurocs, jackknife_aurocs, prepare

from .references import psi


def clustered_data(rng, n_patients=60, max_images=4, n_labels=3, decimals=1):
    per = rng.integers(1, max_images + 1, n_patients)
    pid = np.repeat(np.arange(n_patients), per)
    rng.shuffle(pid)
    n = pid.size
    y = (rng.random((n, n_labels)) < 0.35).astype(float)
    y[rng.random((n, n_labels)) < 0.1] = -1
    y[rng.random((n, n_labels)) < 0.1] = np.nan
    effect = rng.normal(size=n_patients)[pid][:, None]  # patients' images are correlated
    a = np.round(effect + np.nan_to_num(y).clip(0) + rng.normal(size=y.shape), decimals)
    b = np.round(effect + 0.6 * np.nan_to_num(y).clip(0) + rng.normal(size=y.shape), decimals)
    return y, a, b, np.array([f"p{i:03d}" for i in pid])


def naive_auc(y, s):
    """AUROC of a materialised sample by the O(n²) kernel mean (NaN with one class)."""
    keep = (y == 0) | (y == 1)
    if len(set(y[keep])) < 2:
        return np.nan
    return psi(s[keep][y[keep] == 1], s[keep][y[keep] == 0]).mean()


def test_every_replicate_equals_sklearn_on_the_materialised_resample():
    rng = np.random.default_rng(21)
    y, a, b, pid = clustered_data(rng)
    prep = prepare(y, [a, b], pid, None)
    n_rep = 140  # spans two blocks of 128
    boot = bootstrap_aurocs(prep, n_rep, seed=5)
    counts = np.concatenate(list(patient_count_blocks(prep.n_patients, n_rep, 5)), axis=1)
    assert counts.shape == (prep.n_patients, n_rep)
    assert (counts.sum(axis=0) == prep.n_patients).all()
    for r in range(n_rep):
        rows = np.repeat(np.arange(y.shape[0]), counts[prep.patients, r].astype(int))
        for j in range(y.shape[1]):
            for k, s in enumerate((a, b)):
                ref = naive_auc(y[rows, j], s[rows, j])
                assert boot[k, j, r] == pytest.approx(ref, abs=1e-12, nan_ok=True)


def test_cluster_jackknife_equals_leave_one_patient_out_by_sklearn():
    rng = np.random.default_rng(22)
    y, a, b, pid = clustered_data(rng, n_patients=40)
    prep = prepare(y, [a, b], pid, None)
    full, jk = jackknife_aurocs(prep)
    for p in range(prep.n_patients):
        keep = prep.patients != p
        for j in range(y.shape[1]):
            for k, s in enumerate((a, b)):
                assert jk[k, j, p] == pytest.approx(naive_auc(y[keep, j], s[keep, j]), abs=1e-12)
    for j in range(y.shape[1]):
        assert full[0, j] == pytest.approx(naive_auc(y[:, j], a[:, j]), abs=1e-12)


def test_result_point_estimates_intervals_and_bca_from_independent_pieces():
    rng = np.random.default_rng(23)
    y, a, b, pid = clustered_data(rng, n_patients=80)
    res = paired_bootstrap(y, a, b, pid, n_replicates=400, seed=1, labels=["u", "v", "w"])
    aucs = np.array([[naive_auc(y[:, j], s[:, j]) for j in range(3)] for s in (a, b)])
    assert res.macro_a == pytest.approx(aucs[0].mean(), abs=1e-12)
    assert aucs[1, 0] == pytest.approx(roc_auc_score(y[y[:, 0] >= 0, 0], b[y[:, 0] >= 0, 0]))
    assert res.delta == pytest.approx(aucs[0].mean() - aucs[1].mean(), abs=1e-12)
    assert [r.delta for r in res.per_label] == pytest.approx(aucs[0] - aucs[1], abs=1e-12)
    d = res.replicates
    assert d.shape == (400,) and res.n_degenerate == 0
    assert res.ci_percentile == pytest.approx(tuple(np.quantile(d, [0.025, 0.975])))
    assert res.p_value == pytest.approx((1 + np.sum(np.abs(d - res.delta) >= abs(res.delta))) / 401)
    # BCa from scratch: z0 from the replicates, acceleration from a sklearn cluster jackknife
    groups = np.unique(pid)
    theta = []
    for p in groups:
        keep = pid != p
        theta.append(np.mean([naive_auc(y[keep, j], a[keep, j]) - naive_auc(y[keep, j], b[keep, j])
                              for j in range(3)]))
    theta = np.array(theta)
    dev = theta.mean() - theta
    accel = np.sum(dev**3) / (6 * np.sum(dev**2) ** 1.5)
    z0 = ndtri(np.mean(d < res.delta) + 0.5 * np.mean(d == res.delta))
    zq = ndtri(np.array([0.025, 0.975]))
    expected = np.quantile(d, ndtr(z0 + (z0 + zq) / (1 - accel * (z0 + zq))))
    assert res.acceleration == pytest.approx(accel, rel=1e-9)
    assert res.ci_bca == pytest.approx(tuple(expected), abs=1e-12)
    assert res.per_label[1].label == "v" and res.macro_labels == ("u", "v", "w")
    assert set(res.to_dict()) >= {"delta", "ci_percentile", "ci_bca", "p_value", "per_label"}
    assert "replicates" not in res.to_dict()
    json.dumps(res.to_dict(), allow_nan=False)


def test_seeded_and_prefix_stable():
    rng = np.random.default_rng(24)
    y, a, b, pid = clustered_data(rng)
    one = paired_bootstrap(y, a, b, pid, n_replicates=300, seed=9)
    two = paired_bootstrap(y, a, b, pid, n_replicates=300, seed=9)
    longer = paired_bootstrap(y, a, b, pid, n_replicates=500, seed=9)
    other = paired_bootstrap(y, a, b, pid, n_replicates=300, seed=10)
    np.testing.assert_array_equal(one.replicates, two.replicates)
    np.testing.assert_array_equal(one.replicates, longer.replicates[:300])
    assert not np.array_equal(one.replicates, other.replicates)


def test_resamples_patients_not_images():
    # duplicating every image within its patient changes no replicate when patients are resampled
    rng = np.random.default_rng(25)
    y, a, b, pid = clustered_data(rng, max_images=1)
    twice = lambda x: np.concatenate([x, x])  # noqa: E731
    base = paired_bootstrap(y, a, b, pid, n_replicates=200, seed=3)
    dup = paired_bootstrap(twice(y), twice(a), twice(b), twice(pid), n_replicates=200, seed=3)
    np.testing.assert_allclose(dup.replicates, base.replicates, atol=1e-12)
    assert dup.ci_bca == pytest.approx(base.ci_bca, abs=1e-12)
    # an image-level bootstrap would see 2n independent images and shrink the interval
    per_image = paired_bootstrap(twice(y), twice(a), twice(b), np.arange(2 * y.shape[0]),
                                 n_replicates=200, seed=3)
    assert per_image.se < 0.85 * dup.se


def test_swapping_models_mirrors_every_replicate():
    rng = np.random.default_rng(28)
    y, a, b, pid = clustered_data(rng)
    ab = paired_bootstrap(y, a, b, pid, n_replicates=200, seed=6)
    ba = paired_bootstrap(y, b, a, pid, n_replicates=200, seed=6)
    np.testing.assert_allclose(ab.replicates, -ba.replicates, atol=1e-15)
    assert ab.p_value == ba.p_value and ab.delta == -ba.delta
    assert ab.ci_percentile == pytest.approx((-ba.ci_percentile[1], -ba.ci_percentile[0]))
    assert ab.ci_bca == pytest.approx((-ba.ci_bca[1], -ba.ci_bca[0]))


def test_row_order_and_monotone_transforms_change_nothing():
    rng = np.random.default_rng(29)
    y, a, b, pid = clustered_data(rng)
    base = paired_bootstrap(y, a, b, pid, n_replicates=150, seed=8)
    perm = rng.permutation(y.shape[0])
    shuffled = paired_bootstrap(y[perm], a[perm], b[perm], pid[perm], n_replicates=150, seed=8)
    np.testing.assert_allclose(shuffled.replicates, base.replicates, atol=1e-15)
    moved = paired_bootstrap(y, np.exp(a) * 3, b / 7 - 1, pid, n_replicates=150, seed=8)
    np.testing.assert_allclose(moved.replicates, base.replicates, atol=1e-15)
    assert moved.ci_bca == pytest.approx(base.ci_bca, abs=1e-15)


def test_identical_models_and_a_clear_difference():
    rng = np.random.default_rng(26)
    y, a, b, pid = clustered_data(rng, n_patients=150)
    same = paired_bootstrap(y, a, a, pid, n_replicates=200)
    assert same.delta == 0.0 and same.p_value == 1.0 and same.ci_percentile == (0.0, 0.0)
    noise = rng.normal(size=a.shape)
    clear = paired_bootstrap(y, a, noise, pid, n_replicates=400)
    assert clear.delta > 0.1 and clear.p_value == pytest.approx(1 / 401)
    assert clear.ci_bca[0] > 0 and clear.ci_percentile[0] > 0


def test_undefined_label_is_reported_and_excluded():
    rng = np.random.default_rng(27)
    y, a, b, pid = clustered_data(rng)
    y[:, 2] = np.where(np.isnan(y[:, 2]), np.nan, 0.0)  # label w: negatives only
    res = paired_bootstrap(y, a, b, pid, n_replicates=100, labels=["u", "v", "w"])
    assert res.macro_labels == ("u", "v") and "no positive" in res.per_label[2].reason
    assert math.isnan(res.per_label[2].delta)
    with pytest.raises(StatsError, match="no label has both"):
        paired_bootstrap(np.zeros(10), np.arange(10.0), np.arange(10.0), np.arange(10))


def test_bad_input():
    y = np.array([0, 1, 0, 1.0])
    with pytest.raises(StatsError, match="patient_ids: expected 4"):
        paired_bootstrap(y, np.arange(4.0), np.arange(4.0), [1, 2, 3])
    with pytest.raises(StatsError, match="non-finite"):
        paired_bootstrap(y, np.array([0, 1, np.inf, 2]), np.arange(4.0), [1, 2, 3, 4])
    with pytest.raises(StatsError, match="n_replicates"):
        paired_bootstrap(y, np.arange(4.0), np.arange(4.0), [1, 2, 3, 4], n_replicates=0)


def test_one_model_bootstrap_matches_the_paired_replicates():
    rng = np.random.default_rng(30)
    y, a, b, pid = clustered_data(rng)
    one = bootstrap_auroc(y, a, pid, n_replicates=200, seed=4, labels=["u", "v", "w"])
    paired = paired_bootstrap(y, a, b, pid, n_replicates=200, seed=4)
    assert one.macro == pytest.approx(paired.macro_a, abs=1e-15)
    assert one.ci_percentile == pytest.approx(paired.ci_macro_a, abs=1e-15)
    assert one.per_label[0].auc == pytest.approx(naive_auc(y[:, 0], a[:, 0]), abs=1e-12)
    assert one.ci_bca[0] < one.macro < one.ci_bca[1]
    json.dumps(one.to_dict(), allow_nan=False)


small_clustered = st.integers(min_value=3, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from([0.0, 1.0, 1.0, -1.0, float("nan")]), min_size=n, max_size=n),
        st.lists(st.integers(-3, 3), min_size=n, max_size=n),
        st.lists(st.integers(0, 6), min_size=n, max_size=n),
        st.integers(0, 2**16),
    )
)


@settings(max_examples=120, deadline=None)
@given(small_clustered)
def test_property_weighted_kernel_and_jackknife_equal_materialised(data):
    y, s, pid, seed = (np.array(data[0]), np.array(data[1], dtype=float), np.array(data[2]),
                       data[3])
    prep = prepare(y, [s, -0.5 * s**3], pid, None)  # a tie-preserving, order-reversing twin
    n_rep = 6
    boot = bootstrap_aurocs(prep, n_rep, seed)
    counts = next(patient_count_blocks(prep.n_patients, n_rep, seed))
    for r in range(n_rep):
        rows = np.repeat(np.arange(y.size), counts[prep.patients, r].astype(int))
        for k in range(2):
            ref = naive_auc(y[rows], prep.scores[k, rows, 0])
            assert boot[k, 0, r] == pytest.approx(ref, abs=1e-12, nan_ok=True)
    if prep.defined[0]:
        full, jk = jackknife_aurocs(prep)
        assert full[0, 0] == pytest.approx(naive_auc(y, s), abs=1e-12)
        for p in range(prep.n_patients):
            keep = prep.patients != p
            ref = naive_auc(y[keep], s[keep])
            assert jk[0, 0, p] == pytest.approx(ref, abs=1e-12, nan_ok=True)
