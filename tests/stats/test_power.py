"""Power of the reported t-test and its MDE (cxrbench.stats.power) against scipy's noncentral t."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln

from cxrbench.stats.power import critical_t, detectable_effect, power, reported_mde, se_bias


@pytest.mark.parametrize("dof", [1, 2, 4, 11, 40, 500])
def test_power_is_the_noncentral_t_when_the_seed_part_is_all(dof):
    for lam in (0.0, 0.7, 2.0, 3.5, 6.0):
        c = stats.t.ppf(0.975, dof)
        ref = stats.nct.sf(c, dof, lam) + stats.nct.cdf(-c, dof, lam)
        assert power(lam, 0.0, dof) == pytest.approx(ref, abs=2e-6)


def test_power_is_the_normal_when_the_test_part_is_all_or_dof_infinite():
    for lam in (0.0, 1.0, 2.8):
        ref = stats.norm.sf(1.959964 - lam) + stats.norm.cdf(-1.959964 - lam)
        assert power(lam, 0.0, float("inf")) == pytest.approx(ref, abs=1e-6)
        # r = 1: se is exact, but the test still uses t_{ν}'s critical value
        c = stats.t.ppf(0.975, 4)
        assert power(lam, 1.0, 4) == pytest.approx(stats.norm.sf(c - lam) + stats.norm.cdf(-c - lam), abs=1e-9)


def test_level_at_zero_effect():
    assert power(0.0, 0.0, 4) == pytest.approx(0.05, abs=1e-6)
    assert power(0.0, 0.6, 4) < 0.05  # a test part the t quantile does not need: conservative


def test_se_bias_is_c4_for_a_pure_seed_variance():
    for dof in (1, 2, 4, 11):
        c4 = np.sqrt(2 / dof) * np.exp(gammaln((dof + 1) / 2) - gammaln(dof / 2))
        assert se_bias(0.0, dof) == pytest.approx(c4, abs=1e-5)
    assert se_bias(1.0, 4) == pytest.approx(1.0)


def test_detectable_effect_has_the_asked_power():
    for dof, share in ((2, 0.0), (4, 0.0), (4, 0.5), (11, 0.3), (float("inf"), 0.0)):
        mde = detectable_effect(0.01, share, dof)
        assert power(mde / 0.01, share, dof) == pytest.approx(0.80, abs=1e-8)
    assert detectable_effect(0.01, 0.0, float("inf")) == pytest.approx(0.01 * (1.959964 + 0.841621), rel=1e-5)
    # fewer seeds, larger MDE; more of the variance from the test set, smaller
    assert detectable_effect(1, 0, 2) > detectable_effect(1, 0, 4) > detectable_effect(1, 0, 40)
    assert detectable_effect(1, 0.0, 4) > detectable_effect(1, 0.8, 4)
    assert np.isnan(detectable_effect(0.0, 0.0, 4)) and np.isnan(detectable_effect(float("nan"), 0.0, 4))


def test_reported_mde_unbiases_sigma():
    se, dof = 0.004, 4
    assert reported_mde(se, 0.0, dof) == pytest.approx(detectable_effect(se / se_bias(0, dof), 0.0, dof))
    assert reported_mde(se, 0.0, dof) > detectable_effect(se, 0.0, dof)
    assert np.isnan(reported_mde(0.0, 0.0, dof))
    assert critical_t(4) == pytest.approx(stats.t.ppf(0.975, 4))
