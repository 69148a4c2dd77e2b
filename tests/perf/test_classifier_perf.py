"""Classifier recipe throughput: loader-only vs training step, so input-boundness is visible.

Each benchmark records images/s in extra_info. The loader side (gather uint8 rows, scale, resize,
augment on the device) must run well ahead of the training step for every preset, on one thread.
"""

from __future__ import annotations

import pytest
import torch

from cxrbench.baselines.classifier import get_recipe
from cxrbench.baselines.classifier.throughput import images_per_second, loader_batch_fn, train_step_fn

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CASES = {
    "quick-32": get_recipe("quick"),
    "quick-64": get_recipe("quick", image_size=64),
    "small-64": get_recipe("quick", backbone="cxr_small", image_size=64),
    "standard-256": get_recipe("standard", batch_size=8 if DEVICE == "cpu" else 64),
}



#: `make bench` times the small recipes; the study's standard-256 (~2 min of CPU) runs with `make bench-scale`
BENCH_CASES = [pytest.param(c, marks=pytest.mark.scale) if c == "standard-256" else c for c in CASES]


@pytest.mark.parametrize("case", BENCH_CASES)
def test_loader_batch(benchmark, case):
    recipe = CASES[case]
    fn = loader_batch_fn(recipe, n_images=2048, device=DEVICE)
    benchmark.pedantic(fn, rounds=20, iterations=1, warmup_rounds=2)
    benchmark.extra_info["images_per_s"] = recipe.batch_size / benchmark.stats.stats.median


@pytest.mark.parametrize("case", BENCH_CASES)
def test_train_step(benchmark, case):
    recipe = CASES[case]
    fn = train_step_fn(recipe, device=DEVICE)
    rounds = 2 if case == "standard-256" and DEVICE == "cpu" else 10
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    benchmark.extra_info["images_per_s"] = recipe.batch_size / benchmark.stats.stats.median


@pytest.mark.parametrize("case", ["quick-32", "quick-64"])
def test_training_is_not_input_bound(case):
    recipe = CASES[case]
    loader = images_per_second(loader_batch_fn(recipe, n_images=2048, device=DEVICE), min_seconds=1.0)
    step = images_per_second(train_step_fn(recipe, device=DEVICE), min_seconds=1.0)
    assert loader > 5 * step, f"loader {loader:.0f} img/s vs step {step:.0f} img/s"
