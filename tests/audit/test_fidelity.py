"""Fréchet distance against scipy and closed forms; k-NN precision / recall / coverage on known sets."""

import numpy as np
import pytest
import scipy.linalg

from cxrbench.audit.fidelity import frechet_distance, precision_recall_coverage


def scipy_frechet(a, b):
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_matches_scipy_sqrtm_on_correlated_gaussians():
    rng = np.random.default_rng(0)
    d = 12
    a_mix, b_mix = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    a = rng.normal(size=(3000, d)) @ a_mix
    b = rng.normal(size=(2500, d)) @ b_mix + 0.5
    assert frechet_distance(a, b) == pytest.approx(scipy_frechet(a, b), rel=1e-6)


def test_closed_form_for_isotropic_gaussians():
    # N(0, I) vs N(mu, s^2 I): |mu|^2 + d (1 - s)^2
    rng = np.random.default_rng(1)
    d, s, shift = 8, 1.5, 0.3
    a = rng.normal(size=(200_000, d))
    b = rng.normal(size=(200_000, d)) * s + shift
    expected = d * shift**2 + d * (1 - s) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)


def test_identical_sets_have_zero_distance_and_order_matters_not():
    x = np.random.default_rng(2).normal(size=(500, 6))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    y = x[:250] * 2
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-9)


def test_needs_two_samples_and_equal_dims():
    x = np.zeros((5, 3))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(x[:1], x)
    with pytest.raises(ValueError, match="dimensions"):
        frechet_distance(x, np.zeros((5, 4)))


def test_precision_recall_coverage_on_known_sets():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(800, 4)).astype(np.float32)
    same = rng.normal(size=(800, 4)).astype(np.float32)
    far = same + 50.0
    half = same * 0.2  # collapsed onto the centre of the real manifold
    p, r, c = precision_recall_coverage(real, same, device="cpu")
    assert p > 0.9 and r > 0.9 and c > 0.9
    assert precision_recall_coverage(real, far, device="cpu") == (0.0, 0.0, 0.0)
    p, r, c = precision_recall_coverage(real, half, device="cpu")
    assert p > 0.95 and r < 0.5 and c < 0.5  # faithful but not diverse


def test_subsampling_is_seeded():
    rng = np.random.default_rng(4)
    real, syn = rng.normal(size=(600, 3)).astype(np.float32), rng.normal(size=(700, 3)).astype(np.float32)
    a = precision_recall_coverage(real, syn, max_samples=200, seed=7, device="cpu")
    b = precision_recall_coverage(real, syn, max_samples=200, seed=7, device="cpu")
    assert a == b
