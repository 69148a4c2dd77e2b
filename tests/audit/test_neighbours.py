"""Chunked nearest neighbours against a brute-force numpy reference."""

import numpy as np
import pytest

from cxrbench.audit.neighbours import covered_by_balls, nearest_neighbours


def brute(q, r, mask=None):
    d = np.sqrt(((q[:, None, :].astype(np.float64) - r[None, :, :]) ** 2).sum(-1))
    if mask is not None:
        d[mask] = np.inf
    return d


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(257, 8)).astype(np.float32), rng.normal(size=(300, 8)).astype(np.float32)


@pytest.mark.parametrize("block_bytes", [64, 4 * 300 * 7, 2**28])  # 1-row, 7-row and single-block chunks
def test_matches_brute_force_for_any_chunking(data, block_bytes):
    q, r = data
    dist, idx = nearest_neighbours(q, r, 3, block_bytes=block_bytes, device="cpu")
    ref = brute(q, r)
    order = np.argsort(ref, axis=1)[:, :3]
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_allclose(dist, np.take_along_axis(ref, order, 1), rtol=1e-4, atol=1e-4)


def test_groups_exclude_same_patient(data):
    q, r = data
    qg, rg = np.arange(257) % 10, np.arange(300) % 10
    dist, idx = nearest_neighbours(q, r, 1, query_groups=qg, reference_groups=rg, block_bytes=4000, device="cpu")
    ref = brute(q, r, qg[:, None] == rg[None, :])
    np.testing.assert_array_equal(idx[:, 0], ref.argmin(1))
    assert (qg != rg[idx[:, 0]]).all()
    np.testing.assert_allclose(dist[:, 0], ref.min(1), rtol=1e-4, atol=1e-4)


def test_self_exclusion_and_too_few_references():
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    i = np.arange(3)
    dist, idx = nearest_neighbours(x, x, 4, query_groups=i, reference_groups=i, device="cpu")
    assert (idx[:, :2] != i[:, None]).all()
    assert np.isinf(dist[:, 2:]).all() and (idx[:, 2:] == -1).all()


def test_exact_duplicate_has_near_zero_distance():
    x = np.random.default_rng(2).normal(size=(50, 64)).astype(np.float32) * 10
    dist, idx = nearest_neighbours(x[::-1].copy(), x, 1, device="cpu")
    np.testing.assert_array_equal(idx[:, 0], np.arange(50)[::-1])
    assert dist.max() < 1e-2 * np.linalg.norm(x, axis=1).min()


def test_covered_by_balls(data):
    q, r = data
    radii = np.random.default_rng(3).uniform(0.5, 2.0, size=r.shape[0]).astype(np.float32)
    expected = (brute(q, r) <= radii[None, :]).any(1)
    np.testing.assert_array_equal(covered_by_balls(q, r, radii, block_bytes=5000, device="cpu"), expected)


def test_shape_errors(data):
    q, r = data
    with pytest.raises(ValueError, match="do not match"):
        nearest_neighbours(q, r[:, :4])
    with pytest.raises(ValueError, match="both"):
        nearest_neighbours(q, r, query_groups=np.arange(257))


def test_calibration_subsample_bounds_queries_and_keeps_thresholds_close():
    from cxrbench.audit.memorization import calibrate

    rng = np.random.default_rng(5)
    feats = rng.normal(size=(3000, 8)).astype(np.float32)
    patients = np.arange(3000) // 3
    full, d_full = calibrate(feats, patients, "x", device="cpu")
    part, d_part = calibrate(feats, patients, "x", max_queries=1000, device="cpu")
    assert d_full.shape == (3000,) and d_part.shape == (1000,) and part.n_pairs == 1000
    assert part.close_threshold == pytest.approx(full.close_threshold, rel=0.25)
    assert part.median_distance == pytest.approx(full.median_distance, rel=0.05)
