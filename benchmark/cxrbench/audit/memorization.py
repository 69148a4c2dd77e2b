"""Memorization: does a generator hand back its training patients?

For every synthetic image we find its nearest real training image. What counts as "too close" is
calibrated on real data: the distance from each real training image to its nearest training image
of a *different patient* (images of the same patient are legitimately alike). Two thresholds come
from that calibration distribution:

* `close_threshold`: its `close_quantile` (default 1%) quantile; a generator sampling new patients
  from the real distribution puts roughly that share of its images that close (a conditional one
  somewhat more: each synthetic image has a training image with exactly its findings).
* `near_duplicate_threshold`: `duplicate_factor` (default 0.5) x its `duplicate_quantile`
  (default 0.1%) quantile: closer than nearly any two different patients ever are. Used for
  copies of training images, duplicates among synthetic images and test-set leakage.

The report flags memorization when the share under the close threshold exceeds
`memorization_tolerance` (default 20%) or the share of near-duplicates exceeds
`near_duplicate_tolerance` (default 1%), in any space.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel

from cxrbench.audit.neighbours import nearest_neighbours, subsample
from cxrbench.errors import DataError


class Calibration(BaseModel):
    """Thresholds of one feature space, calibrated on real-vs-real pairs of different patients."""

    space: str
    n_pairs: int
    close_quantile: float
    close_threshold: float
    duplicate_quantile: float
    duplicate_factor: float
    near_duplicate_threshold: float
    median_distance: float


def calibrate(
    real_features: np.ndarray,
    patient_ids: np.ndarray,
    space: str,
    *,
    close_quantile: float = 0.01,
    duplicate_quantile: float = 0.001,
    duplicate_factor: float = 0.5,
    max_queries: int | None = None,
    seed: int = 0,
    device=None,
) -> tuple[Calibration, np.ndarray]:
    """Thresholds from each real image's distance to its nearest image of another patient.

    With `max_queries`, a seeded subsample of that many images is measured (each against all
    others), which bounds the cost on large training sets. Returns the calibration and the
    per-image distances (float32 (n,)).
    """
    codes, uniques = _patient_codes(patient_ids)
    if len(uniques) < 2:
        raise DataError("memorization calibration needs real training images of at least 2 patients")
    queries = subsample(real_features.shape[0], max_queries, seed)
    dist, _ = nearest_neighbours(real_features[queries], real_features, 1, query_groups=codes[queries],
                                 reference_groups=codes, device=device)
    dist = dist[:, 0].astype(np.float64)
    cal = Calibration(
        space=space, n_pairs=int(dist.size), close_quantile=close_quantile,
        close_threshold=float(np.quantile(dist, close_quantile)),
        duplicate_quantile=duplicate_quantile, duplicate_factor=duplicate_factor,
        near_duplicate_threshold=float(duplicate_factor * np.quantile(dist, duplicate_quantile)),
        median_distance=float(np.median(dist)),
    )
    return cal, dist.astype(np.float32)


def _patient_codes(patient_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(patient_ids).astype(str)
    uniques, codes = np.unique(ids, return_inverse=True)
    return codes.astype(np.int64), uniques


class ClosePair(BaseModel):
    """One synthetic image and its nearest real image, with their distance."""

    synthetic_index: int
    real_index: int
    distance: float


class SpaceMemorization(BaseModel):
    """Memorization measured in one feature space."""

    space: str
    calibration: Calibration
    share_close: float  # share of synthetic images nearer a training image than close_threshold
    n_close: int
    share_near_duplicate: float  # share nearer than the near-duplicate threshold
    n_near_duplicate: int
    median_nearest_distance: float
    closest: list[ClosePair]  # the closest pairs, nearest first


def memorization_in_space(
    synthetic_features: np.ndarray,
    real_features: np.ndarray,
    calibration: Calibration,
    *,
    n_closest: int = 16,
    device=None,
) -> tuple[SpaceMemorization, np.ndarray, np.ndarray]:
    """Nearest training image of each synthetic image, and the shares under both thresholds.

    Returns the summary and the per-synthetic (distance, index) of the nearest training image.
    """
    dist, idx = nearest_neighbours(synthetic_features, real_features, 1, device=device)
    dist, idx = dist[:, 0], idx[:, 0]
    close = dist < calibration.close_threshold
    dup = dist < calibration.near_duplicate_threshold
    summary = SpaceMemorization(
        space=calibration.space, calibration=calibration,
        share_close=float(close.mean()), n_close=int(close.sum()),
        share_near_duplicate=float(dup.mean()), n_near_duplicate=int(dup.sum()),
        median_nearest_distance=float(np.median(dist)),
        closest=closest_pairs(dist, idx, n_closest),
    )
    return summary, dist, idx


def closest_pairs(dist: np.ndarray, idx: np.ndarray, n: int) -> list[ClosePair]:
    order = np.argsort(dist, kind="stable")[:n]
    return [ClosePair(synthetic_index=int(i), real_index=int(idx[i]), distance=float(dist[i])) for i in order]


def save_gallery(
    path: str | Path,
    synthetic_images: np.ndarray,
    real_images: np.ndarray,
    pairs: list[ClosePair],
    *,
    title: str = "closest synthetic / real training pairs",
    real_label: str = "train",
    columns: int = 4,
) -> Path:
    """A PNG grid of (synthetic, nearest real) image pairs with their distances."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = max(len(pairs), 1)
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(2 * columns * 1.6, rows * 1.9), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, pair in enumerate(pairs):
        r, c = divmod(k, columns)
        axes[r, 2 * c].imshow(synthetic_images[pair.synthetic_index], cmap="gray", vmin=0, vmax=255)
        axes[r, 2 * c].set_title(f"syn {pair.synthetic_index}", fontsize=7)
        axes[r, 2 * c + 1].imshow(real_images[pair.real_index], cmap="gray", vmin=0, vmax=255)
        axes[r, 2 * c + 1].set_title(f"{real_label} {pair.real_index}\nd={pair.distance:.3g}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
