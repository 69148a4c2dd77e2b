"""Exact nearest neighbours by batched matrix products, chunked to bound memory.

Squared distances are |q|^2 + |r|^2 - 2 q.r. Per (chunk x references) block we compute only
|r|^2 - 2 q.r (one fused addmm; |q|^2 does not change which reference is nearest) and add |q|^2
to the k winners, so each block is touched by one matrix product and one reduction. Blocks run
on the GPU when one is present; memory is O(chunk x references) whatever the number of queries.
"""

from __future__ import annotations

import numpy as np
import torch

#: Memory one distance block may use (bytes); chunk sizes follow from it.
DEFAULT_BLOCK_BYTES = 64 * 2**20


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _chunk_rows(n_references: int, block_bytes: int) -> int:
    return max(1, int(block_bytes // (4 * max(n_references, 1))))


def subsample(n: int, max_samples: int | None, seed: int) -> np.ndarray:
    """Indices of at most `max_samples` of n items, sorted; all of them when n is small enough."""
    if max_samples is None or n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


def nearest_neighbours(
    queries: np.ndarray,
    references: np.ndarray,
    k: int = 1,
    *,
    query_groups: np.ndarray | None = None,
    reference_groups: np.ndarray | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest references of every query (Euclidean), nearest first.

    If groups are given, a reference in the same group as the query is never a neighbour (use the
    patient id to get "nearest image of a different patient", or the row index to skip self).
    Returns (distances float32 (Q, k), indices int64 (Q, k)); a query with fewer than k eligible
    references gets distance inf and index -1 in the missing places.
    """
    if (query_groups is None) != (reference_groups is None):
        raise ValueError("give both query_groups and reference_groups, or neither")
    if queries.ndim != 2 or references.ndim != 2 or queries.shape[1] != references.shape[1]:
        raise ValueError(f"feature shapes do not match: {queries.shape} vs {references.shape}")
    if references.shape[0] == 0:
        raise ValueError("no reference features")
    device = torch.device(device) if device is not None else default_device()
    k_eff = min(k, references.shape[0])
    ref = torch.as_tensor(np.ascontiguousarray(references, dtype=np.float32), device=device)
    ref_sq = (ref * ref).sum(dim=1)
    if reference_groups is not None:
        ref_groups = torch.as_tensor(np.asarray(reference_groups, dtype=np.int64), device=device)
    out_d = np.full((queries.shape[0], k), np.inf, dtype=np.float32)
    out_i = np.full((queries.shape[0], k), -1, dtype=np.int64)
    step = _chunk_rows(references.shape[0], block_bytes)
    for start in range(0, queries.shape[0], step):
        q = torch.as_tensor(np.ascontiguousarray(queries[start:start + step], dtype=np.float32), device=device)
        scores = torch.addmm(ref_sq[None, :], q, ref.T, beta=1.0, alpha=-2.0)  # d^2 - |q|^2
        if query_groups is not None:
            qg = torch.as_tensor(np.asarray(query_groups[start:start + step], dtype=np.int64), device=device)
            scores.masked_fill_(qg[:, None] == ref_groups[None, :], float("inf"))
        if k_eff == 1:
            best, best_i = scores.min(dim=1, keepdim=True)
        else:
            best, best_i = torch.topk(scores, k_eff, dim=1, largest=False, sorted=True)
        best_i = best_i.masked_fill(torch.isinf(best), -1)
        best_d = (best + (q * q).sum(dim=1, keepdim=True)).clamp_(min=0.0).sqrt()
        out_d[start:start + q.shape[0], :k_eff] = best_d.cpu().numpy()
        out_i[start:start + q.shape[0], :k_eff] = best_i.cpu().numpy()
    return out_d, out_i


def covered_by_balls(
    queries: np.ndarray,
    centres: np.ndarray,
    radii: np.ndarray,
    *,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """For each query, whether it lies inside any ball (centre_j, radius_j): bool (Q,)."""
    device = torch.device(device) if device is not None else default_device()
    c = torch.as_tensor(np.ascontiguousarray(centres, dtype=np.float32), device=device)
    # |q - c|^2 <= r^2  <=>  |c|^2 - r^2 - 2 q.c <= -|q|^2
    offset = (c * c).sum(dim=1) - torch.as_tensor(np.asarray(radii, dtype=np.float32), device=device).square()
    out = np.zeros(queries.shape[0], dtype=bool)
    step = _chunk_rows(centres.shape[0], block_bytes)
    for start in range(0, queries.shape[0], step):
        q = torch.as_tensor(np.ascontiguousarray(queries[start:start + step], dtype=np.float32), device=device)
        scores = torch.addmm(offset[None, :], q, c.T, beta=1.0, alpha=-2.0)
        out[start:start + q.shape[0]] = (scores.min(dim=1).values <= -(q * q).sum(dim=1)).cpu().numpy()
    return out
