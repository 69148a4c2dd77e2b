"""Leakage: synthetic images that are near-duplicates of test images.

A generator may learn only from the training split. A synthetic image closer to a test image than
the near-duplicate threshold (calibrated on real pairs of different patients, see
`memorization.calibrate`) means test images reached the generator, and any downstream score trained
on that synthetic set is inflated. It is a hard failure: the record and the screen flag it.

Beside the feature spaces, the registered pixel distance (`cxrbench.audit.registered`) looks for
test films handed back shifted, mirrored, or with another brightness, contrast or added noise.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from cxrbench.audit.memorization import Calibration, ClosePair, closest_pairs
from cxrbench.audit.neighbours import nearest_neighbours, subsample
from cxrbench.audit.registered import SIDE, registered_nearest

#: the registered comparison's name and version in reports (a changed comparison changes the version)
REGISTERED_SPACE = f"registered-pixels-{SIDE}@1"


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


def registered_leakage(
    synthetic_images: np.ndarray,
    train_images: np.ndarray,
    test_images: np.ndarray,
    *,
    duplicate_quantile: float,
    duplicate_factor: float,
    max_queries: int,
    max_shift_px: int,
    seed: int = 0,
    n_closest: int = 16,
    device=None,
) -> SpaceLeakage:
    """Near-copies of test films after the best shift and mirror, by the registered pixel distance.

    Its threshold is `duplicate_factor` × the `duplicate_quantile` quantile of the same distance
    from up to `max_queries` real training films to their nearest test film: films of other
    patients (the splits are by patient), searched among the same test films as the synthetic
    ones. The null thus has the test set's size: among 40,000 films the nearest one is nearer than
    among 2,000, and a threshold from the training films' own neighbours flagged about one honest
    image in 2,000."""
    queries = subsample(train_images.shape[0], max_queries, seed)
    calibration, _ = registered_nearest(np.asarray(train_images[queries]), test_images, max_shift_px=max_shift_px,
                                        device=device)
    threshold = duplicate_factor * float(np.quantile(calibration.astype(np.float64), duplicate_quantile))
    dist, idx = registered_nearest(synthetic_images, test_images, max_shift_px=max_shift_px, device=device)
    leaked = dist < threshold
    return SpaceLeakage(
        space=REGISTERED_SPACE, near_duplicate_threshold=threshold, n_near_duplicate=int(leaked.sum()),
        share_near_duplicate=float(leaked.mean()), median_nearest_distance=float(np.median(dist)),
        closest=closest_pairs(dist, idx, n_closest),
    )
