"""Diversity: does the generator cover the variety of real images, or collapse to a few modes?

* Spread: root mean squared distance to the centroid (sqrt of the covariance trace) of synthetic
  features, divided by the same for real features, overall and within each finding (a
  conditional generator that ignores its noise has a within-condition ratio well below 1).
* Duplicate rate: share of synthetic images with another synthetic image nearer than the
  near-duplicate threshold (calibrated on real pairs of different patients).
"""

from __future__ import annotations

import numpy as np

from cxrbench.audit.neighbours import nearest_neighbours, subsample


def spread(features: np.ndarray) -> float:
    """Root mean squared distance of the features to their centroid."""
    centred = features.astype(np.float64) - features.mean(axis=0, dtype=np.float64)
    return float(np.sqrt((centred * centred).sum(axis=1).mean()))


def spread_ratio(synthetic: np.ndarray, real: np.ndarray) -> float | None:
    """spread(synthetic) / spread(real); None when the real set has no spread."""
    real_spread = spread(real)
    return spread(synthetic) / real_spread if real_spread > 0 else None


def duplicate_rate(
    features: np.ndarray,
    threshold: float,
    *,
    max_queries: int | None = 10_000,
    seed: int = 0,
    device=None,
) -> tuple[float, int]:
    """Share of images whose nearest *other* image of the same set is nearer than `threshold`.

    At most `max_queries` images (seeded subsample) are checked, each against the whole set.
    Returns (rate, number checked).
    """
    if features.shape[0] < 2:
        return 0.0, int(features.shape[0])
    queries = subsample(features.shape[0], max_queries, seed)
    dist, _ = nearest_neighbours(features[queries], features, 1, query_groups=queries,
                                 reference_groups=np.arange(features.shape[0]), device=device)
    return float((dist[:, 0] < threshold).mean()), int(queries.size)
