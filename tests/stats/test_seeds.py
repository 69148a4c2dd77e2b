"""Seed aggregation against scipy's t-interval; submission comparison against materialised pieces."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from cxrbench.stats import StatsError, aggregate_seeds, compare_submissions
from cxrbench.stats._weighted import patient_count_blocks


def test_aggregate_matches_scipy_t_interval():
    v = [0.71, 0.74, 0.70, 0.73]
    agg = aggregate_seeds(v, confidence=0.9)
    lo, hi = sps.t.interval(0.9, 3, loc=np.mean(v), scale=sps.sem(v))
    assert agg.mean == pytest.approx(np.mean(v)) and agg.sd == pytest.approx(np.std(v, ddof=1))
    assert (agg.ci_low, agg.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    one = aggregate_seeds([0.7])
    assert one.mean == 0.7 and math.isnan(one.sd) and "one seed" in one.reason
    with pytest.raises(StatsError, match="non-finite"):
        aggregate_seeds([0.7, np.nan])


def make(rng, n_patients=50, n_seeds=(3, 2), effect=(0.9, 0.6)):
    pid = np.repeat(np.arange(n_patients), rng.integers(1, 4, n_patients))
    n = pid.size
    y = (rng.random((n, 2)) < 0.4).astype(float)
    y[rng.random((n, 2)) < 0.1] = np.nan
    pos = np.nan_to_num(y)
    sets = [[np.round(e * pos + rng.normal(size=y.shape), 1) for _ in range(k)]
            for k, e in zip(n_seeds, effect)]
    return y, sets[0], sets[1], pid


def macro(y, s):
    vals = []
    for j in range(y.shape[1]):
        keep = ~np.isnan(y[:, j])
        vals.append(roc_auc_score(y[keep, j], s[keep, j]))
    return np.mean(vals)


def test_decomposition_against_sklearn_pieces():
    rng = np.random.default_rng(41)
    y, a, b, pid = make(rng)
    n_rep = 30
    res = compare_submissions(y, a, b, pid, n_replicates=n_rep, seed=2)
    ma = np.array([macro(y, s) for s in a])
    mb = np.array([macro(y, s) for s in b])
    assert res.delta == pytest.approx(ma.mean() - mb.mean(), abs=1e-12)
    assert res.var_seed == pytest.approx(ma.var(ddof=1) / 3 + mb.var(ddof=1) / 2, rel=1e-10)
    codes = np.unique(pid, return_inverse=True)[1]
    counts = np.concatenate(list(patient_count_blocks(codes.max() + 1, n_rep, 2)), axis=1)
    fixed = []
    for r in range(n_rep):
        rows = np.repeat(np.arange(len(pid)), counts[codes, r].astype(int))
        fixed.append(np.mean([macro(y[rows], s[rows]) for s in a])
                     - np.mean([macro(y[rows], s[rows]) for s in b]))
    assert res.var_test == pytest.approx(np.var(fixed, ddof=1), rel=1e-9)
    va, vb = ma.var(ddof=1) / 3, mb.var(ddof=1) / 2
    se2 = res.var_test + va + vb
    dof = se2**2 / (va**2 / 2 + vb**2 / 1)
    assert res.dof == pytest.approx(dof, rel=1e-9)
    assert res.p_value == pytest.approx(2 * sps.t.sf(abs(res.delta) / np.sqrt(se2), dof), rel=1e-9)
    half = sps.t.ppf(0.975, dof) * np.sqrt(se2)
    assert (res.ci_low, res.ci_high) == pytest.approx((res.delta - half, res.delta + half))
    assert res.macro_a.n_seeds == 3 and res.macro_b.values == pytest.approx(tuple(mb))
    assert res.ci_two_level[0] < res.delta < res.ci_two_level[1]


def test_paired_seeds_and_identical_submissions():
    rng = np.random.default_rng(42)
    y, a, _, pid = make(rng, n_seeds=(3, 3))
    same = compare_submissions(y, a, a, pid, paired_seeds=True, n_replicates=100)
    assert same.delta == 0 and same.se == 0 and same.p_value == 1.0
    assert same.ci_two_level == (0.0, 0.0)
    b = [np.round(0.6 * np.nan_to_num(y) + rng.normal(size=y.shape), 1) for _ in range(3)]
    paired = compare_submissions(y, a, b, pid, paired_seeds=True, n_replicates=100)
    diffs = np.array([macro(y, sa) - macro(y, sb) for sa, sb in zip(a, b)])
    assert paired.var_seed == pytest.approx(diffs.var(ddof=1) / 3, rel=1e-10)
    assert paired.dof == pytest.approx((paired.var_test + paired.var_seed) ** 2
                                       / (paired.var_seed**2 / 2), rel=1e-9)
    with pytest.raises(StatsError, match="paired_seeds"):
        compare_submissions(y, a, a[:2], pid, paired_seeds=True)


def test_one_seed_is_flagged():
    rng = np.random.default_rng(44)
    y, a, b, pid = make(rng, n_seeds=(1, 1))
    res = compare_submissions(y, a, b, pid, n_replicates=100)
    assert res.var_seed == 0 and res.dof == math.inf and "one seed for A" in res.reason
    assert res.p_value == pytest.approx(2 * sps.norm.sf(abs(res.delta) / res.se))
