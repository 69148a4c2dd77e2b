"""Registered pixel distance: how close two films are after the best small shift and mirror.

A leaking generator need not hand back a test film byte for byte: moved by a pixel, mirrored, with
another brightness or contrast or added noise, it is the same film, and a plain pixel or feature
distance lets it pass. Here both films are reduced to `side` px and compared by the correlation
distance 2 × (1 − r) (brightness and contrast drop out) of their smoothed windows (smoothing
absorbs part of added noise), at the best of every shift up to `max_shift_px` of the original
image and every mirror. Each window is smoothed after it is cut, so a shifted copy matches its
source exactly. A coarse descriptor of the windows first picks each film's candidates among the
references, tried at every mirror and shift; only those are aligned exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from cxrbench.audit.neighbours import nearest_neighbours

SIDE = 32  # films are compared at this size (the phantom's quick budget; larger ones are area-averaged)
COARSE = 8  # side of the retrieval descriptor
CHUNK = 256  # films aligned at a time (bounds the memory of their shifted windows)
SIGMA = 2.0  # smoothing (px at SIDE) of each window: of the widths tried (1, 1.5, 2) the one under which
# the most copies with added noise stayed nearer their source than films of other patients are
#: (vertical, horizontal) flips tried: as shown, and mirrored left to right
FLIPS = ((False, False), (False, True))


def prepare(images: np.ndarray, *, side: int = SIDE, batch: int = 4096) -> torch.Tensor:
    """uint8 (N, S, S) -> float32 (N, side, side)."""
    parts = []
    for start in range(0, images.shape[0], batch):
        x = torch.from_numpy(np.asarray(images[start:start + batch], dtype=np.float32))[:, None]
        if x.shape[-1] != side:
            x = F.adaptive_avg_pool2d(x, side) if x.shape[-1] > side else F.interpolate(x, size=side, mode="bilinear")
        parts.append(x[:, 0])
    return torch.cat(parts) if parts else torch.zeros((0, side, side))


def smooth(x: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """Gaussian smoothing of (N, H, W), edges repeated: applied to each window after it is cut, so a
    window's result depends on nothing outside it (a shifted copy then matches exactly)."""
    kernel = _gaussian(sigma)
    pad = kernel.shape[-1] // 2
    y = x[:, None]
    y = F.conv2d(F.pad(y, (pad, pad, 0, 0), mode="replicate"), kernel[None, None, None, :])
    y = F.conv2d(F.pad(y, (0, 0, pad, pad), mode="replicate"), kernel[None, None, :, None])
    return y[:, 0]


def shift_range(image_size: int, max_shift_px: int, side: int = SIDE) -> int:
    """The largest shift to try at `side`, covering `max_shift_px` of the original image (at most a
    quarter of `side`, so that half of each film is still compared)."""
    return min(side // 4, max(1, math.ceil(max_shift_px * side / image_size)))


def registered_nearest(queries: np.ndarray, references: np.ndarray, *, max_shift_px: int = 4, candidates: int = 4,
                       query_groups: np.ndarray | None = None, reference_groups: np.ndarray | None = None,
                       device=None) -> tuple[np.ndarray, np.ndarray]:
    """For every query film, its nearest reference film after registration, and their distance.

    Films of the same group (a patient) are never each other's neighbours. Returns (distance
    float32 (Q,), index int64 (Q,)), the distance in [0, 4]."""
    m = shift_range(queries.shape[1], max_shift_px)
    q, r = prepare(queries), prepare(references)
    cand = _candidates(q, r, m, candidates, query_groups, reference_groups, device)
    dist = np.full(q.shape[0], np.inf, dtype=np.float32)
    best = np.full(q.shape[0], -1, dtype=np.int64)
    for j in range(cand.shape[1]):
        rows = np.flatnonzero(cand[:, j] >= 0)
        for start in range(0, rows.size, CHUNK):
            part = rows[start:start + CHUNK]
            idx = cand[part, j]
            d = _aligned_distance(q[torch.from_numpy(part)], r[torch.from_numpy(idx)], m)
            better = d < dist[part]
            dist[part[better]], best[part[better]] = d[better], idx[better]
    return dist, best


def _candidates(q: torch.Tensor, r: torch.Tensor, m: int, k: int, query_groups, reference_groups, device) -> np.ndarray:
    """Up to k reference indices per query: the nearest coarse descriptors over every flip and shift."""
    ref_desc = _descriptor(r, m, 0, 0)
    shifts = range(-m, m + 1)  # every whole shift: among many alike films one moved by a pixel is no
    # longer its source's nearest coarse descriptor
    dists: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    for flip in FLIPS:
        flipped = _flip(q, flip)
        for dy in shifts:
            variants = np.concatenate([_descriptor(flipped, m, dy, dx) for dx in shifts])
            d, i = nearest_neighbours(variants, ref_desc, k, query_groups=_tile(query_groups, len(shifts)),
                                      reference_groups=reference_groups, device=device)
            dists += np.split(d, len(shifts))
            ids += np.split(i, len(shifts))
    dist, idx = np.concatenate(dists, axis=1), np.concatenate(ids, axis=1)  # (Q, variants x k)
    order = np.argsort(dist, axis=1, kind="stable")
    out = np.full((q.shape[0], k), -1, dtype=np.int64)
    for row, (ranked, found) in enumerate(zip(order, idx)):
        unique = list(dict.fromkeys(int(i) for i in found[ranked] if i >= 0))[:k]
        out[row, :len(unique)] = unique
    return out


def _tile(groups, n: int):
    return None if groups is None else np.tile(np.asarray(groups), n)


def _descriptor(x: torch.Tensor, m: int, dy: int, dx: int) -> np.ndarray:
    """The coarse descriptor of each film's window moved by (dy, dx) from the centre (margin m)."""
    w = x.shape[-1] - 2 * m
    window = x[:, m + dy:m + dy + w, m + dx:m + dx + w]
    return _standardise(F.adaptive_avg_pool2d(window[:, None], COARSE).flatten(1)).numpy()


def _standardise(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean(dim=-1, keepdim=True)
    norm = x.norm(dim=-1, keepdim=True)
    return torch.where(norm > 1e-6, x / norm.clamp_min(1e-6), torch.zeros_like(x))


def _flip(x: torch.Tensor, flip: tuple[bool, bool]) -> torch.Tensor:
    dims = [d for d, f in zip((-2, -1), flip) if f]
    return torch.flip(x, dims) if dims else x


def _windows(r: torch.Tensor, m: int) -> torch.Tensor:
    """Every (2m+1)^2 shifted central window of each reference, smoothed and standardised: (R, (2m+1)^2, w*w)."""
    s = r.shape[-1]
    w = s - 2 * m
    patches = F.unfold(r[:, None], kernel_size=w).transpose(1, 2)  # (R, (2m+1)^2, w*w)
    smoothed = smooth(patches.reshape(-1, w, w)).reshape(patches.shape)
    return _standardise(smoothed)


def _aligned_distance(q: torch.Tensor, r: torch.Tensor, m: int) -> np.ndarray:
    """Min over flips of each query and shifts of its reference of 2 × (1 − correlation)."""
    w = q.shape[-1] - 2 * m
    ref_windows = _windows(r, m)
    best = torch.full((q.shape[0],), 4.0)
    for flip in FLIPS:
        centre = _standardise(smooth(_flip(q, flip)[:, m:m + w, m:m + w]).flatten(1))
        corr = torch.einsum("qd,qsd->qs", centre, ref_windows).amax(dim=1)
        best = torch.minimum(best, 2.0 * (1.0 - corr))
    return best.clamp_min(0.0).numpy()


def _gaussian(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()
