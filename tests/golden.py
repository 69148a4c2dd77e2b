"""Golden values that must hold on any machine: compared within the reproducibility contract's
tolerances (`cxrbench.reproducibility`, docs/reproducibility.md), never by a digest of float results,
whose last bits follow the CPU's instruction set."""

from __future__ import annotations

import numpy as np

from cxrbench.reproducibility import GREY_LEVELS, PIXEL_SHARE


def assert_images_close(actual: np.ndarray, expected: np.ndarray, what: str = "images") -> None:
    """uint8 images within GREY_LEVELS on at least PIXEL_SHARE of their pixels (and the same shape)."""
    assert actual.dtype == expected.dtype == np.uint8 and actual.shape == expected.shape, (
        f"{what}: {actual.dtype} {actual.shape} vs golden {expected.dtype} {expected.shape}")
    off = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    share = float((off <= GREY_LEVELS).mean())
    assert share >= PIXEL_SHARE, (f"{what}: {share:.4%} of pixels within {GREY_LEVELS} grey level(s) of the golden "
                                  f"images (at least {PIXEL_SHARE:.1%} required; largest difference {off.max()})")
