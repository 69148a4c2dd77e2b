"""A metric measured once per classifier training seed: mean, sd and a t-interval.

Comparing two submissions trained with several seeds on one test set (both sources of variance)
is `cxrbench.stats.seed_patient`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import stdtrit  # Student t quantile (light import)

from cxrbench.stats._inputs import check_confidence
from cxrbench.stats._record import Record
from cxrbench.stats.errors import StatsError


@dataclass(frozen=True)
class SeedAggregate(Record):
    """Mean over training seeds, sample sd (n − 1), and a t-interval for the mean."""

    mean: float
    sd: float
    se: float
    ci_low: float
    ci_high: float
    n_seeds: int
    confidence: float
    values: tuple[float, ...]
    reason: str | None = None  # why sd and the CI are NaN (one seed), else None


def aggregate_seeds(values: ArrayLike, *, confidence: float = 0.95) -> SeedAggregate:
    """Mean, sd and t-based CI of a metric measured once per training seed."""
    confidence = check_confidence(confidence)
    v = np.array(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise StatsError("aggregate_seeds: no values")
    if not np.isfinite(v).all():
        raise StatsError(f"aggregate_seeds: non-finite value at seed {int(np.argmax(~np.isfinite(v)))}")
    mean = float(v.mean())
    if v.size == 1:
        nan = float("nan")
        return SeedAggregate(mean, nan, nan, nan, nan, 1, confidence, (mean,),
                             "one seed: no spread over seeds can be estimated")
    sd = float(v.std(ddof=1))
    se = sd / np.sqrt(v.size)
    half = float(stdtrit(v.size - 1, 0.5 + confidence / 2) * se)
    return SeedAggregate(mean, sd, float(se), mean - half, mean + half, int(v.size), confidence,
                         tuple(float(x) for x in v))
