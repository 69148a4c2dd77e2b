"""Phantom rendering speed: images per second at 64 and 256 px on one core.

The batch is drawn from the internal site's CheXpert-like label mix (so findings cost what they
cost in a real dataset). Images/s goes into the benchmark's extra_info (wall clock and CPU time;
on a shared machine the CPU-time figure is the one that reflects one core).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from cxrbench.data.phantom import render, sample_conditions

BATCH = {32: 2000, 64: 1000, 128: 250, 256: 100}


@pytest.fixture(scope="module")
def conditions():
    return sample_conditions(max(BATCH.values()), site="site-a", seed=0)


@pytest.mark.parametrize("size", [64, pytest.param(256, marks=pytest.mark.scale), 32])  # 256 px: `make bench-scale`
def test_render_speed(benchmark, conditions, size):
    n = BATCH[size]
    cond, seeds = conditions.iloc[:n].reset_index(drop=True), np.arange(n, dtype=np.int64)
    threads = os.environ.get("OMP_NUM_THREADS")
    cpu = []

    def run():
        start = time.process_time()
        out = render(cond, seeds, size)
        cpu.append(time.process_time() - start)
        return out

    images = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert images.shape == (n, size, size)
    wall = benchmark.stats.stats.min
    benchmark.extra_info.update({
        "size": size, "images": n, "images_per_s_wall": round(n / wall, 1),
        "images_per_s_cpu": round(n / min(cpu), 1), "omp_threads": threads,
    })
