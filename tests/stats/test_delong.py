"""DeLong against an O(n²) structural-component reference and R's pROC; symmetry; edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from cxrbench.stats import DelongTable, StatsError, delong, delong_ci

from .references import have_proc, proc_delong, slow_components, slow_delong


def correlated_scores(rng, n, prevalence=0.3, decimals=None):
    y = (rng.random(n) < prevalence).astype(float)
    shared = rng.normal(size=n)
    a = shared + 1.0 * y + 0.7 * rng.normal(size=n)
    b = shared + 0.8 * y + 0.7 * rng.normal(size=n)
    if decimals is not None:
        a, b = np.round(a, decimals), np.round(b, decimals)
    return y, a, b


FIELDS = ("auc_a", "auc_b", "var_a", "var_b", "cov", "z", "p_value")


@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_matches_slow_quadratic_reference(decimals):
    rng = np.random.default_rng(11)
    y, a, b = correlated_scores(rng, 700, decimals=decimals)
    fast = delong(y, a, b)
    slow = slow_delong(y, a, b)
    for f in FIELDS:
        assert getattr(fast, f) == pytest.approx(slow[f], rel=1e-10, abs=1e-13), f
    assert fast.delta == pytest.approx(slow["auc_a"] - slow["auc_b"], abs=1e-13)
    assert fast.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    se = math.sqrt(slow["var_a"] + slow["var_b"] - 2 * slow["cov"])
    assert fast.ci_low == pytest.approx(fast.delta - 1.959963984540054 * se, abs=1e-12)
    assert fast.ci_high == pytest.approx(fast.delta + 1.959963984540054 * se, abs=1e-12)


def test_vectorised_over_masked_labels_equals_per_label_calls():
    rng = np.random.default_rng(12)
    n = 900
    ys, As, Bs = zip(*(correlated_scores(rng, n, prevalence=p, decimals=d)
                       for p, d in [(0.2, None), (0.5, 1), (0.1, 2)]))
    y = np.column_stack(ys)
    y[rng.random(y.shape) < 0.1] = -1
    y[rng.random(y.shape) < 0.1] = np.nan
    a, b = np.column_stack(As), np.column_stack(Bs)
    table = delong(y, a, b, labels=["x", "y", "z"])
    assert isinstance(table, DelongTable) and table.labels == ("x", "y", "z")
    for j in range(3):
        keep = (y[:, j] == 0) | (y[:, j] == 1)
        slow = slow_delong(y[keep, j], a[keep, j], b[keep, j])
        for f in FIELDS:
            assert getattr(table[j], f) == pytest.approx(slow[f], rel=1e-10, abs=1e-13)
        assert table[j].n_pos == (y[:, j] == 1).sum()
    np.testing.assert_allclose(table.p_values, [c.p_value for c in table])
    assert table["y"] is table[1]


def test_one_model_ci_matches_slow_reference_and_is_clipped():
    rng = np.random.default_rng(13)
    y, a, _ = correlated_scores(rng, 500, decimals=1)
    ci = delong_ci(y, a)
    auc, v10, v01 = slow_components(y, a)
    var = v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size
    assert ci.auc == pytest.approx(auc, abs=1e-13) and ci.var == pytest.approx(var, rel=1e-10)
    assert ci.ci_low == pytest.approx(auc - 1.959963984540054 * math.sqrt(var), abs=1e-12)
    perfect = delong_ci(np.r_[np.zeros(5), np.ones(5)], np.r_[np.arange(5.0), 10 + np.arange(5.0)])
    assert perfect.auc == 1.0 and perfect.ci_high == 1.0 and perfect.var == 0.0


def test_swapping_models_negates_delta_and_z_keeps_p():
    rng = np.random.default_rng(14)
    y, a, b = correlated_scores(rng, 400, decimals=1)
    ab, ba = delong(y, a, b), delong(y, b, a)
    assert ab.delta == pytest.approx(-ba.delta, abs=1e-15)
    assert ab.z == pytest.approx(-ba.z, abs=1e-12)
    assert ab.p_value == pytest.approx(ba.p_value, abs=1e-15)
    assert ab.cov == pytest.approx(ba.cov, abs=1e-15)


def test_identical_models_give_p_one_and_undefined_labels_say_why():
    rng = np.random.default_rng(15)
    y, a, _ = correlated_scores(rng, 200)
    same = delong(y, a, a)
    assert same.delta == 0.0 and same.z == 0.0 and same.p_value == 1.0 and same.reason is None
    assert same.ci_low == 0.0 == same.ci_high
    one_class = delong(np.zeros(10), np.arange(10.0), np.arange(10.0)[::-1])
    assert math.isnan(one_class.auc_a) and math.isnan(one_class.p_value)
    assert "no positive" in one_class.reason and one_class.to_dict()["p_value"] is None
    tiny = delong(np.array([0, 0, 0, 1.0]), np.arange(4.0), np.arange(4.0)[::-1])
    assert tiny.auc_a == 1.0 and tiny.auc_b == 0.0 and math.isnan(tiny.var_a)
    assert "≥ 2 positives" in tiny.reason


def test_bad_input():
    y = np.array([0, 1, 0, 1.0])
    with pytest.raises(StatsError, match="score_b"):
        delong(y, np.arange(4.0), np.arange(3.0))
    with pytest.raises(StatsError, match="score_a: non-finite"):
        delong(y, np.array([0, np.nan, 1, 2]), np.arange(4.0))
    with pytest.raises(StatsError, match="allowed"):
        delong(np.array([0, 1, 3, 1.0]), np.arange(4.0), np.arange(4.0))
    with pytest.raises(StatsError, match="confidence"):
        delong(y, np.arange(4.0), np.arange(4.0), confidence=95)


@pytest.mark.skipif(not have_proc(), reason="R with pROC is absent (apt-get install r-cran-proc)")
@pytest.mark.parametrize("decimals", [None, 1])
def test_matches_proc(tmp_path, decimals):
    rng = np.random.default_rng(16)
    y, a, b = correlated_scores(rng, 600, decimals=decimals)
    ref = proc_delong(y, a, b, tmp_path)
    ours = delong(y, a, b)
    for f in ("auc_a", "auc_b", "var_a", "var_b", "z", "p_value"):
        assert getattr(ours, f) == pytest.approx(ref[f], rel=1e-8, abs=1e-12), f
    ci = delong_ci(y, a)
    assert (ci.ci_low, ci.ci_high) == pytest.approx((ref["ci_low"], ref["ci_high"]), abs=1e-10)


paired = st.integers(min_value=4, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n),
        st.lists(st.integers(-3, 3), min_size=n, max_size=n),
        st.lists(st.integers(-3, 3), min_size=n, max_size=n),
    )
)


@settings(max_examples=100, deadline=None)
@given(paired)
def test_property_against_slow_reference(data):
    y, a, b = (np.array(x, dtype=float) for x in data)
    m = int(y.sum())
    if m < 2 or y.size - m < 2:
        return
    fast = delong(y, a, b)
    slow = slow_delong(y, a, b)
    for f in ("auc_a", "auc_b", "var_a", "var_b", "cov"):
        assert getattr(fast, f) == pytest.approx(slow[f], rel=1e-9, abs=1e-12)
    # a monotone transform of one model's scores changes nothing
    moved = delong(y, np.exp(a), b)
    assert moved.delta == pytest.approx(fast.delta, abs=1e-12)
    assert moved.var_a == pytest.approx(fast.var_a, abs=1e-12)
