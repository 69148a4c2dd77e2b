"""Audit nearest neighbours at benchmark scale: 100k synthetic x 10k real features (dim 256).

`nearest_neighbours` (one fused addmm + min per 64 MiB block) is timed by pytest-benchmark; the
naive baseline, scikit-learn's brute-force `NearestNeighbors` (pairwise distances, chunked by
its own working memory), runs before each of our rounds (pytest-benchmark's untimed `setup`), so
both see the same load on a shared machine. Both run on one thread; wall and CPU seconds of each
and their ratios go into extra_info. Both must return the same neighbours.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from cxrbench.audit.neighbours import nearest_neighbours

N_SYNTHETIC, N_REAL, DIM = 100_000, 10_000, 256
THREADS = 1
ROUNDS = 3


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(N_SYNTHETIC, DIM)).astype(np.float32),
            rng.normal(size=(N_REAL, DIM)).astype(np.float32))


def sklearn_brute(queries, references):
    from sklearn.neighbors import NearestNeighbors
    from threadpoolctl import threadpool_limits

    with threadpool_limits(THREADS):
        index = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(references)
        return index.kneighbors(queries)


def timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


@pytest.mark.scale  # ~3 min of CPU with its sklearn baseline: `make bench-scale`
def test_nearest_neighbours_100k_x_10k(benchmark, features):
    pytest.importorskip("sklearn")
    queries, references = features
    torch.set_num_threads(THREADS)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    baseline, ours = [], []

    def run_baseline():  # untimed setup before each timed round: interleaves the two
        baseline.append(timed(sklearn_brute, queries, references))

    def run_ours():
        ours.append(timed(nearest_neighbours, queries, references, 1, device=device))
        return ours[-1][0]

    dist, idx = benchmark.pedantic(run_ours, setup=run_baseline, rounds=ROUNDS, iterations=1)
    base_wall, base_cpu = min(b[1] for b in baseline), min(b[2] for b in baseline)
    our_wall, our_cpu = min(o[1] for o in ours), min(o[2] for o in ours)
    benchmark.extra_info.update(
        device=device, threads=THREADS, baseline="sklearn NearestNeighbors(algorithm='brute')",
        baseline_wall_s=round(base_wall, 3), ours_wall_s=round(our_wall, 3), speedup_wall=round(base_wall / our_wall, 2),
        baseline_cpu_s=round(base_cpu, 3), ours_cpu_s=round(our_cpu, 3), speedup_cpu=round(base_cpu / our_cpu, 2))
    print(f"\nnearest neighbours {N_SYNTHETIC}x{N_REAL}x{DIM} on {device}, {THREADS} thread, min of {ROUNDS} "
          f"interleaved rounds: ours {our_wall:.2f} s wall / {our_cpu:.2f} s CPU, sklearn brute "
          f"{base_wall:.2f} s / {base_cpu:.2f} s: speed-up x{base_wall / our_wall:.2f} wall, x{base_cpu / our_cpu:.2f} CPU")
    ref_dist, ref_idx = baseline[-1][0]
    assert (idx[:, 0] == ref_idx[:, 0]).mean() > 0.999  # the rest are float ties
    np.testing.assert_allclose(dist[:, 0], ref_dist[:, 0], rtol=1e-3, atol=1e-3)
    assert base_cpu / our_cpu > 1.0
