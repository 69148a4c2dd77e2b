"""Power of the reported t-test, and the minimum detectable effect (MDE) it implies.

A reported Δ is tested with t = Δ̂ / se, se² = ĉ + s²/S, against Student's t with ν degrees of
freedom (`seed_patient`): a test part ĉ, estimated from thousands of patients (its own sampling
error is neglected here), and a seed part whose variance has ν degrees of freedom. With
Δ̂ ~ N(δ, σ²) and r = c/σ² the share of the test part,

    se²/σ² = r + (1 − r)·χ²_ν/ν,

so the test rejects when |Z + δ/σ| > t_{1−α/2,ν}·√(r + (1 − r)·χ²_ν/ν). `power` averages that
over χ²_ν (Gauss–Legendre quadrature on the χ² quantile scale): at r = 0 it is exactly the noncentral t's power,
at r = 1 or ν = ∞ the normal's. The MDE is the δ with 80 % power at α = 0.05.

From a record, σ is estimated by se / E[se/σ]: se is a square root of an unbiased variance and
underestimates σ on average (by the factor c4(ν) when r = 0, 0.94 at ν = 4), which would make an
effect of one reported MDE detected less often than 80 %.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq
from scipy.special import chdtri, ndtr, ndtri, roots_legendre, stdtrit

ALPHA = 0.05
POWER = 0.80
#: quadrature nodes over χ²_ν; 256 give the noncentral t's power to 2e-6 for every ν ≥ 1
_NODES = 256
#: beyond this many degrees of freedom the seed part's χ² is treated as exact (the normal limit)
_NORMAL_DOF = 1e5


@lru_cache(maxsize=256)
def _chi2_nodes(dof: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes x and weights w with Σ w·f(x) = E[f(χ²_ν/ν)] (nodes at χ² quantiles: the integrand is bounded
    there, where the χ² density is not at ν = 1)."""
    t, w = roots_legendre(_NODES)
    upper = (1.0 - t) / 2.0  # upper-tail probabilities, for chdtri
    return chdtri(dof, upper) / dof, w / 2.0


def _scale_nodes(share_test: float, dof: float) -> tuple[np.ndarray, np.ndarray]:
    """√(r + (1 − r)·χ²_ν/ν) at the quadrature nodes, and their weights."""
    if not math.isfinite(dof) or dof > _NORMAL_DOF:
        return np.ones(1), np.ones(1)
    x, w = _chi2_nodes(float(dof))
    r = min(max(float(share_test), 0.0), 1.0)
    return np.sqrt(r + (1.0 - r) * x), w


def critical_t(dof: float, alpha: float = ALPHA) -> float:
    """t_{1−α/2, ν} (the normal quantile at ν = ∞)."""
    q = 1.0 - alpha / 2.0
    return float(ndtri(q)) if not math.isfinite(dof) or dof > _NORMAL_DOF else float(stdtrit(dof, q))


def power(effect_in_sd: float, share_test: float, dof: float, *, alpha: float = ALPHA) -> float:
    """P(reject) of the two-sided level-α test when the true Δ is `effect_in_sd`·σ.

    `share_test`: r = c/σ², the part of Var(Δ̂) that the test set carries; `dof`: ν of the seed part.
    """
    scale, w = _scale_nodes(share_test, dof)
    cut = critical_t(dof, alpha) * scale
    lam = abs(float(effect_in_sd))
    return float(np.sum(w * (ndtr(lam - cut) + ndtr(-lam - cut))))


def se_bias(share_test: float, dof: float) -> float:
    """E[se/σ] = E√(r + (1 − r)·χ²_ν/ν): how much a reported se underestimates σ on average."""
    scale, w = _scale_nodes(share_test, dof)
    return float(np.sum(w * scale))


def detectable_effect(sd: float, share_test: float, dof: float, *, alpha: float = ALPHA,
                      target: float = POWER) -> float:
    """The true Δ detected with probability `target` when Δ̂ has sd `sd` (NaN when sd is 0 or undefined)."""
    if not (math.isfinite(sd) and sd > 0 and dof >= 1):
        return float("nan")
    if power(0.0, share_test, dof, alpha=alpha) >= target:
        return 0.0
    hi = 2.0 * (critical_t(dof, alpha) + 3.0)
    while power(hi, share_test, dof, alpha=alpha) < target:
        hi *= 2.0
    lam = brentq(lambda x: power(x, share_test, dof, alpha=alpha) - target, 0.0, hi, xtol=1e-10)
    return float(lam * sd)


def reported_mde(se: float, var_test: float, dof: float, *, alpha: float = ALPHA, target: float = POWER) -> float:
    """The MDE of one reported comparison: σ estimated without bias from its se, its test share and ν."""
    if not (math.isfinite(se) and se > 0 and math.isfinite(var_test)):
        return float("nan")
    share = min(max(var_test / se**2, 0.0), 1.0)
    return detectable_effect(se / se_bias(share, dof), share, dof, alpha=alpha, target=target)
