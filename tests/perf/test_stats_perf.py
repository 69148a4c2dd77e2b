"""Statistics benchmarks (`make bench`), each reported as a ratio to a baseline timed in the same run.

- Paired DeLong, 14 labels × 200,000 images, against a scikit-learn `roc_auc_score` loop over
  the same labels (which computes only one model's AUROC): target ratio ≤ 2.
- Clustered paired bootstrap, 2,000 replicates × 14 labels × 50,000 images: target < 15 s on
  one core; the ratio is to one sklearn pass over the 14 labels (a naive bootstrap needs
  2 × 2,000 such passes).
Everything runs with BLAS / OpenMP pools limited to one thread.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from cxrbench.stats import delong, paired_bootstrap

N_LABELS = 14


def scored_labels(n, seed):
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.02, 0.5, N_LABELS)
    y = (rng.random((n, N_LABELS)) < prevalence).astype(np.float64)
    y[rng.random((n, N_LABELS)) < 0.08] = -1.0
    y[rng.random((n, N_LABELS)) < 0.2] = np.nan
    pos = np.nan_to_num(y).clip(0)
    shared = rng.normal(size=y.shape)
    a = 1 / (1 + np.exp(-(shared + 1.1 * pos + 0.5 * rng.normal(size=y.shape))))
    b = 1 / (1 + np.exp(-(shared + 1.0 * pos + 0.5 * rng.normal(size=y.shape))))
    return y, a.astype(np.float32).astype(np.float64), b  # float32 probabilities: many ties


def sklearn_loop(y, s):
    out = []
    for j in range(y.shape[1]):
        keep = (y[:, j] == 0) | (y[:, j] == 1)
        out.append(roc_auc_score(y[keep, j], s[keep, j]))
    return out


def best_of(fn, rounds):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def test_paired_delong_vs_sklearn_loop(benchmark):
    y, a, b = scored_labels(200_000, 0)
    with threadpool_limits(1):
        baseline = best_of(lambda: sklearn_loop(y, a), rounds=5)
        table = benchmark.pedantic(delong, args=(y, a, b), rounds=5, iterations=1)
    ratio = benchmark.stats.stats.min / baseline
    benchmark.extra_info.update(baseline_sklearn_loop_s=baseline, ratio=ratio, target_ratio=2.0)
    print(f"\npaired DeLong 14×200k: {benchmark.stats.stats.min:.3f} s, sklearn loop "
          f"{baseline:.3f} s, ratio {ratio:.2f} (target ≤ 2)")
    np.testing.assert_allclose([c.auc_a for c in table], sklearn_loop(y, a), atol=1e-9)
    assert ratio <= 2.0


def test_paired_bootstrap_2000x14x50k(benchmark):
    y, a, b = scored_labels(50_000, 1)
    patients = np.random.default_rng(2).integers(0, 50_000 // 3, 50_000)
    cpu = []

    def run():  # CPU time too: on a shared machine wall time includes waiting for a core
        t0 = time.process_time()
        out = paired_bootstrap(y, a, b, patients, n_replicates=2000, seed=0)
        cpu.append(time.process_time() - t0)
        return out

    with threadpool_limits(1):
        baseline = best_of(lambda: sklearn_loop(y, a), rounds=3)
        res = benchmark.pedantic(run, rounds=1, iterations=1)
    seconds = benchmark.stats.stats.min
    ratio = seconds / baseline
    benchmark.extra_info.update(baseline_sklearn_loop_s=baseline, ratio=ratio, cpu_s=cpu[0],
                                naive_equivalent_ratio=2 * 2000, target_seconds=15.0)
    print(f"\npaired bootstrap 2000×14×50k: {seconds:.2f} s wall, {cpu[0]:.2f} s CPU = "
          f"{ratio:.0f} sklearn passes ({baseline:.3f} s each; a naive bootstrap needs 4000); "
          "target < 15 s")
    assert res.n_replicates == 2000 and np.isfinite(res.ci_bca).all()
    assert seconds < 15.0
