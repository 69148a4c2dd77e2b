"""Counter-based DDPM noise: standard normal, independent across seeds, steps and pixels, and a
pure function of (seed, step, pixel)."""

import numpy as np
import torch
from scipy import stats

from cxrbench.baselines.ddpm.noise import counter_normal, image_keys, seed_words

SEEDS = np.array([0, 1, 2, -7, 2**40 + 5, 2**62 + 3] + list(range(100, 294)), dtype=np.int64)


def _noise(seeds, step, pixels=1024):
    return counter_normal(image_keys(seed_words(seeds)), torch.tensor(step), torch.arange(pixels))


def test_is_standard_normal():
    z = _noise(SEEDS, 3).flatten().numpy()  # 204,800 values
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(stats.skew(z)) < 0.03 and abs(stats.kurtosis(z)) < 0.06


def test_independent_across_steps_seeds_and_pixels():
    a, b = _noise(SEEDS, 3), _noise(SEEDS, 4)
    corr = lambda u, v: float(np.corrcoef(u.flatten(), v.flatten())[0, 1])  # noqa: E731
    limit = 5 / np.sqrt(a.numel())  # 5 standard errors
    assert abs(corr(a, b)) < limit  # step to step
    assert abs(corr(a[:-1], a[1:])) < limit  # neighbouring seeds
    assert abs(corr(a[:, :-1], a[:, 1:])) < limit  # neighbouring pixels
    # seeds that differ in one bit of the high word still get unrelated noise
    hi = _noise(np.array([5, 5 + 2**32]), 0, 4096)
    assert abs(corr(hi[0], hi[1])) < 5 / np.sqrt(4096)


def test_pure_function_of_seed_step_pixel():
    whole = _noise(SEEDS, 11)
    part = _noise(SEEDS[[7, 3]], 11)
    torch.testing.assert_close(part, whole[[7, 3]], rtol=0, atol=0)
    # the pixel counter, not the position in the tensor, decides the value
    sub = counter_normal(image_keys(seed_words(SEEDS[:2])), torch.tensor(11), torch.arange(500, 520))
    torch.testing.assert_close(sub, whole[:2, 500:520], rtol=0, atol=0)
