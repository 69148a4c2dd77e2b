"""Holm and Benjamini–Hochberg against hand-worked values and R's p.adjust."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxrbench.stats import (
    StatsError,
    benjamini_hochberg,
    delong,
    holm,
    significant_changes,
)

from .references import have_proc, r_p_adjust

P = np.array([0.01, 0.04, 0.03, 0.005, 0.2])


def test_holm_by_hand():
    # sorted: 0.005·5, 0.01·4, 0.03·3, 0.04·2, 0.2·1 → 0.025, 0.04, 0.09, 0.08→0.09, 0.2
    np.testing.assert_allclose(holm(P), [0.04, 0.09, 0.09, 0.025, 0.2])


def test_bh_by_hand():
    # sorted p·5/rank: 0.025, 0.025, 0.05, 0.05, 0.2 (step-up minimum from the top)
    np.testing.assert_allclose(benjamini_hochberg(P), [0.025, 0.05, 0.05, 0.025, 0.2])


def test_nan_is_kept_and_not_counted():
    p = np.array([0.01, np.nan, 0.02])
    np.testing.assert_allclose(holm(p), [0.02, np.nan, 0.02])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, np.nan, 0.02])
    assert np.isnan(holm([np.nan])).all()


def test_rejects_values_outside_unit_interval():
    with pytest.raises(StatsError, match="outside"):
        holm([0.1, 1.5])


@pytest.mark.skipif(not have_proc(), reason="R (with pROC) is absent")
def test_matches_r_p_adjust():
    p = np.random.default_rng(0).random(14) ** 3
    np.testing.assert_allclose(holm(p), r_p_adjust(p, "holm"), rtol=1e-12)
    np.testing.assert_allclose(benjamini_hochberg(p), r_p_adjust(p, "BH"), rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_property_adjusted_bounds_and_order(ps):
    p = np.array(ps)
    h, b = holm(p), benjamini_hochberg(p)
    assert (h >= p - 1e-15).all() and (h <= 1).all() and (b >= p - 1e-15).all()
    assert (b <= h + 1e-15).all()  # BH never adjusts more than Holm
    order = np.argsort(p, kind="stable")
    assert (np.diff(h[order]) >= -1e-15).all() and (np.diff(b[order]) >= -1e-15).all()


def test_significant_changes_from_a_delong_table():
    rng = np.random.default_rng(1)
    n = 2000
    y = (rng.random((n, 3)) < 0.3).astype(float)
    base = rng.normal(size=(n, 3)) + 0.5 * y
    better = base.copy()
    better[:, 0] += 1.5 * y[:, 0]  # label A clearly improves
    better[:, 1] -= 1.5 * y[:, 1]  # label B clearly worsens
    table = delong(y, better, base, labels=["A", "B", "C"])
    summary = significant_changes(table, method="holm")
    assert summary.improved == ("A",) and summary.worsened == ("B",)
    assert summary.changes[2].direction == "no significant change"
    np.testing.assert_allclose([c.p_adjusted for c in summary.changes], holm(table.p_values))
    arrays = significant_changes(["A", "B", "C"], table.deltas, table.p_values, method="bh")
    assert arrays.improved == ("A",) and arrays.to_dict()["n_tested"] == 3
    with pytest.raises(StatsError, match="lengths differ"):
        significant_changes(["A"], [0.1, 0.2], [0.5, 0.5])
