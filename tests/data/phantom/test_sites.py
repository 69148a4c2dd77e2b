"""Sites differ in their acquisition look; unknown sites are named in the error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from cxrbench.data.phantom import SITES, PhantomSource, get_site, render, sample_conditions
from cxrbench.errors import ConfigError

from .conftest import condition_rows


def test_three_named_sites_one_internal():
    assert list(SITES) == ["site-a", "site-b", "site-c"]
    assert [s.role for s in SITES.values()] == ["internal", "external", "external"]


def test_sites_differ_in_intensity_statistics():
    """The same patients (same conditions except site, same seeds) look different per site."""
    base = sample_conditions(40, site="site-a", seed=7)
    seeds = np.arange(40, dtype=np.int64)
    stats = {}
    for site in SITES:
        cond = base.assign(site=site)
        img = render(cond, seeds, 64).astype(float)
        inner = img[:, 12:52, 12:52]
        detail = inner - gaussian_filter(inner, (0, 1, 1))
        stats[site] = np.array([img.mean(), np.median(img[:, 0:2, 0:2]), inner.std(), detail.std()])
    names = list(SITES)
    for i in range(3):
        for j in range(i + 1, 3):
            a, b = stats[names[i]], stats[names[j]]
            # mean or border brightness or contrast or fine-detail (noise/blur) clearly differ
            assert (np.abs(a - b) > np.array([8, 40, 5, 0.5])).any(), (names[i], names[j], a, b)
    # site-b: tight black shutters; site-c: bright shutters
    assert stats["site-c"][1] > stats["site-a"][1] + 100


def test_laterality_marker_position_differs():
    imgs = {site: render(condition_rows(1, site=site), np.array([3]), 128)[0] for site in SITES}
    assert imgs["site-a"][8:20, 108:120].max() >= 240  # "L" top right
    assert imgs["site-b"][8:20, 8:20].max() >= 240  # "R" top left
    assert imgs["site-c"][100:120, 108:120].max() >= 240  # "L" bottom right


def test_unknown_site_is_named():
    with pytest.raises(ConfigError, match="unknown phantom site 'hospital-x'; known: site-a, site-b, site-c"):
        PhantomSource(site="hospital-x")
    with pytest.raises(ConfigError, match="hospital-x"):
        get_site("hospital-x")
