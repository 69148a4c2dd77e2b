"""A site's acquisition look: attenuation → displayed intensity, noise, blur, shutters, marker."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .anatomy import F32
from .sites import SITES, Site

LUT_SIZE = 1024
ATT_MAX = 0.9  # attenuation mapped onto the top of the curve (bone over heart stays below it)

# 5x7 glyphs of the laterality markers
_GLYPHS = {
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
}


@lru_cache(maxsize=8)
def contrast_lut(site_name: str) -> np.ndarray:
    """The site's contrast curve sampled on LUT_SIZE attenuation levels in [0, ATT_MAX]."""
    site = SITES[site_name]
    a = np.linspace(0.0, 1.0, LUT_SIZE)
    lo, hi = site.window
    v = np.clip((a - lo) / (hi - lo), 0.0, 1.0) ** site.gamma
    if site.sigmoid_gain > 0:
        k = site.sigmoid_gain
        v = (1 / (1 + np.exp(-k * (v - 0.5))) - 1 / (1 + np.exp(k / 2))) / (1 - 2 / (1 + np.exp(k / 2)))
    return v.astype(F32)


@lru_cache(maxsize=32)
def marker_mask(site_name: str, size: int) -> np.ndarray:
    """(S, S) mask of the laterality letter, ~7 % of the image high, in the site's corner."""
    site = SITES[site_name]
    glyph = np.array([[c == "1" for c in row] for row in _GLYPHS[site.marker]], dtype=F32)
    scale = max(1, round(size * 0.07 / 7))
    big = np.kron(glyph, np.ones((scale, scale), dtype=F32))
    mask = np.zeros((size, size), dtype=F32)
    h, w = big.shape
    pad = max(2, round(size * 0.06))
    top = pad if site.marker_corner.startswith("top") else size - pad - h
    left = pad if site.marker_corner.endswith("left") else size - pad - w
    mask[top:top + h, left:left + w] = big
    return mask


def acquire(att: np.ndarray, site: Site, u: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Turn attenuation maps (n, S, S) of one site into uint8 radiographs.

    u: (n, 8) uniform draws (exposure, shutter margins); noise: (n, S, S) standard normal.
    """
    n, size, _ = att.shape
    lut = contrast_lut(site.name)
    exposure = ((u[:, 0] - 0.5) * 2 * site.exposure_jitter).astype(F32)[:, None, None]
    level = (att * (1.0 / ATT_MAX) + exposure) * (LUT_SIZE - 1)
    np.clip(level, 0, LUT_SIZE - 1, out=level)
    img = lut[level.astype(np.int32)]
    img += noise * site.noise
    sigma = site.blur * size / 2  # normalised units → pixels
    if sigma > 0.3:
        img = gaussian_filter1d(img, sigma, axis=1, truncate=2.5, mode="nearest")
        img = gaussian_filter1d(img, sigma, axis=2, truncate=2.5, mode="nearest")
    if site.unsharp > 0:
        wide = gaussian_filter1d(img, 0.03 * size, axis=1, truncate=2.0, mode="nearest")
        wide = gaussian_filter1d(wide, 0.03 * size, axis=2, truncate=2.0, mode="nearest")
        img += site.unsharp * (img - wide)
    # collimation: shutters with per-image margins on each side
    c = (np.arange(size, dtype=F32) + 0.5) / size
    margins = (site.collimation * (0.5 + u[:, 1:5])).astype(F32)
    edge = 1.5 / size
    inside_x = np.clip((c[None, :] - margins[:, 0:1]) / edge, 0, 1) * np.clip((1 - margins[:, 1:2] - c[None, :]) / edge, 0, 1)
    inside_y = np.clip((c[None, :] - margins[:, 2:3]) / edge, 0, 1) * np.clip((1 - margins[:, 3:4] - c[None, :]) / edge, 0, 1)
    field = inside_y[:, :, None] * inside_x[:, None, :]
    img = img * field + site.border_value * (1 - field)
    np.maximum(img, marker_mask(site.name, size) * 0.97, out=img)
    np.clip(img * 255 + 0.5, 0, 255, out=img)
    return img.astype(np.uint8)
