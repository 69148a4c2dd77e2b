"""Fidelity: how close the synthetic feature distribution is to the real one.

* Fréchet distance between Gaussians fitted to the two feature sets, computed with torchmetrics'
  FID machinery (`FrechetInceptionDistance` with the audit's own feature space plugged in as its
  feature extractor; features are precomputed and cached, so the plugged-in module is the identity).
* k-NN precision / recall (Kynkäänniemi et al., 2019): precision = share of synthetic samples inside
  the real manifold (union of balls reaching each real sample's k-th real neighbour); recall = share
  of real samples inside the synthetic manifold.
* Coverage (Naeem et al., 2020): share of real samples whose own k-NN ball holds a synthetic
  sample. Unlike recall it uses only real radii, so a few far-flung synthetic outliers (noise)
  cannot inflate it.
"""

from __future__ import annotations

import numpy as np
import torch

from cxrbench.audit.neighbours import covered_by_balls, nearest_neighbours, subsample


class _PrecomputedFeatures(torch.nn.Module):
    """Identity 'feature extractor' for torchmetrics: the inputs already are features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def frechet_distance(real: np.ndarray, synthetic: np.ndarray, batch_size: int = 8192) -> float:
    """Fréchet distance between Gaussian fits of two feature sets (N, D) and (M, D); N, M >= 2."""
    if real.shape[0] < 2 or synthetic.shape[0] < 2:
        raise ValueError("the Fréchet distance needs at least 2 samples on each side")
    if real.shape[1] != synthetic.shape[1]:
        raise ValueError(f"feature dimensions differ: {real.shape[1]} vs {synthetic.shape[1]}")
    from torchmetrics.image.fid import FrechetInceptionDistance  # imported here: it is slow to import

    metric = FrechetInceptionDistance(feature=_PrecomputedFeatures(real.shape[1]), reset_real_features=True)
    for feats, is_real in ((real, True), (synthetic, False)):
        for start in range(0, feats.shape[0], batch_size):
            metric.update(torch.as_tensor(np.asarray(feats[start:start + batch_size], dtype=np.float64)), real=is_real)
    # eigenvalues of a product of PSD matrices can come back a hair negative: clamp at 0
    return max(float(metric.compute()), 0.0)


def manifold_radii(features: np.ndarray, k: int, device=None) -> np.ndarray:
    """Distance from each sample to its k-th nearest other sample in the same set."""
    if features.shape[0] <= k:
        raise ValueError(f"need more than k={k} samples to estimate a manifold, got {features.shape[0]}")
    idx = np.arange(features.shape[0])
    dist, _ = nearest_neighbours(features, features, k, query_groups=idx, reference_groups=idx, device=device)
    return dist[:, k - 1]


def precision_recall_coverage(
    real: np.ndarray,
    synthetic: np.ndarray,
    k: int = 3,
    *,
    max_samples: int | None = 10_000,
    seed: int = 0,
    device=None,
) -> tuple[float, float, float]:
    """k-NN precision, recall and coverage of synthetic features against real ones.

    Each side is subsampled (seeded) to at most `max_samples`, since recall needs the synthetic
    set's own k-NN radii (quadratic in its size).
    """
    real = real[subsample(real.shape[0], max_samples, seed)]
    synthetic = synthetic[subsample(synthetic.shape[0], max_samples, seed + 1)]
    real_radii = manifold_radii(real, k, device)
    precision = covered_by_balls(synthetic, real, real_radii, device=device).mean()
    recall = covered_by_balls(real, synthetic, manifold_radii(synthetic, k, device), device=device).mean()
    nearest_synthetic, _ = nearest_neighbours(real, synthetic, 1, device=device)
    coverage = (nearest_synthetic[:, 0] <= real_radii).mean()
    return float(precision), float(recall), float(coverage)
