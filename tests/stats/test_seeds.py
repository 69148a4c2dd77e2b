"""Seed aggregation against scipy's t-interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from cxrbench.stats import StatsError, aggregate_seeds


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
