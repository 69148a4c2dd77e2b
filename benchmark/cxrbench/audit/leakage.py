"""Leakage: synthetic images that are near-duplicates of test images.

A generator may learn only from the training split. A synthetic image closer to a test image than
the near-duplicate threshold (calibrated on real pairs of different patients, see
`memorization.calibrate`) means test images reached the generator, and any downstream score trained
on that synthetic set is inflated. It is a hard failure: the record and the screen flag it.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from cxrbench.audit.memorization import Calibration, ClosePair, closest_pairs
from cxrbench.audit.neighbours import nearest_neighbours


class SpaceLeakage(BaseModel):
    """Leakage measured in one feature space."""

    space: str
    near_duplicate_threshold: float
    n_near_duplicate: int  # synthetic images nearer a test image than the threshold
    share_near_duplicate: float
    median_nearest_distance: float
    closest: list[ClosePair]  # real_index indexes the test images


def leakage_in_space(
    synthetic_features: np.ndarray,
    test_features: np.ndarray,
    calibration: Calibration,
    *,
    n_closest: int = 16,
    device=None,
) -> SpaceLeakage:
    """Nearest test image of every synthetic image; count those under the near-duplicate threshold."""
    dist, idx = nearest_neighbours(synthetic_features, test_features, 1, device=device)
    dist, idx = dist[:, 0], idx[:, 0]
    leaked = dist < calibration.near_duplicate_threshold
    return SpaceLeakage(
        space=calibration.space, near_duplicate_threshold=calibration.near_duplicate_threshold,
        n_near_duplicate=int(leaked.sum()), share_near_duplicate=float(leaked.mean()),
        median_nearest_distance=float(np.median(dist)), closest=closest_pairs(dist, idx, n_closest),
    )
