"""AUROC under per-patient integer weights, for many weight vectors at once.

A bootstrap replicate that draws patient p c_p times is the original sample with every image of
p weighted c_p, so each replicate's AUROC is a weighted Mann–Whitney statistic

    U(w) = Σ_{i pos, j neg} w_i w_j H(s_i − s_j),   H(d) = 1 if d > 0, ½ if d = 0, 0 if d < 0,

and AUROC = U / (W_pos · W_neg). Sorting happens once per (label, model): the smaller class is
the *anchor*; its distinct scores v_1 < … < v_G split the other class into G bins. With
A_k = anchor weight at v_k, T_k = other-class weight in (v_{k−1}, v_k] and E_k = other-class
weight tied at v_k, U = Σ_k A_k (Σ_{k'≤k} T_k' − ½ E_k). A, T, E are linear in the patient counts,
so one sparse (P × ≤3G) matrix turns a block of replicates' counts into all of them with one
sparse–dense product: O(n · R) work, no sort per replicate.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

#: Replicates drawn per block; fixed so that results depend only on the seed, never on memory.
BLOCK = 128


class WeightedAuc:
    """AUROC of one model on one label's scored rows for any per-patient weights."""

    def __init__(self, positive: np.ndarray, scores: np.ndarray, patients: np.ndarray,
                 n_patients: int):
        positive = np.asarray(positive, dtype=bool)
        scores = np.asarray(scores, dtype=np.float64)
        # U is symmetric under swapping the classes and negating the scores: anchor the smaller.
        if positive.sum() > (~positive).sum():
            positive, scores = ~positive, -scores
        anchor_s, other_s = scores[positive], scores[~positive]
        anchor_p, other_p = patients[positive], patients[~positive]
        values, anchor_col = np.unique(anchor_s, return_inverse=True)
        g = values.shape[0]
        k = np.searchsorted(values, other_s, side="left")  # bin (v_{k-1}, v_k]
        inside = k < g  # other-class rows above the top anchor score never count
        tied = inside.copy()
        tied[inside] = values[k[inside]] == other_s[inside]
        tie_groups, tie_col = np.unique(k[tied], return_inverse=True)
        self.n_groups = g
        self.tie_groups = tie_groups
        n_cols = 2 * g + tie_groups.shape[0]
        # one more row: the other class's total weight, the denominator's second factor
        rows = np.concatenate([anchor_p, other_p[inside], other_p[tied], other_p])
        cols = np.concatenate([anchor_col, g + k[inside], 2 * g + tie_col,
                               np.full(other_p.shape[0], n_cols)])
        # transposed (columns × patients) CSR: the product with counts^T streams patient rows
        self.map_t = sp.csr_matrix(
            (np.ones(rows.shape[0]), (cols, rows)), shape=(n_cols + 1, n_patients)
        )

    def __call__(self, counts_t: np.ndarray) -> np.ndarray:
        """AUROC for each column of `counts_t` (P × R per-patient weights); NaN when a class is empty."""
        g = self.n_groups
        x = self.map_t @ counts_t  # (n_cols + 1, R)
        anchor, bins = x[:g], x[g:2 * g]
        below = np.cumsum(bins, axis=0, out=bins)
        if self.tie_groups.shape[0]:
            below[self.tie_groups] -= 0.5 * x[2 * g:-1]
        u = np.einsum("kr,kr->r", anchor, below)
        denom = anchor.sum(axis=0) * x[-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, u / np.where(denom > 0, denom, 1.0), np.nan)


def patient_count_blocks(n_patients: int, n_replicates: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap counts, transposed: float64 (P, r) with r ≤ BLOCK columns.

    Column r holds how often each patient is drawn in replicate r (P draws with replacement).
    Block b uses its own child of SeedSequence(seed), so replicate i is the same for any total.
    """
    n_blocks = -(-n_replicates // BLOCK)
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    for b, child in enumerate(children):
        r = min(BLOCK, n_replicates - b * BLOCK)
        draws = np.random.default_rng(child).integers(0, n_patients, size=(r, n_patients))
        flat = (draws + (np.arange(r) * n_patients)[:, None]).ravel()
        counts = np.bincount(flat, minlength=r * n_patients).reshape(r, n_patients)
        yield np.ascontiguousarray(counts.T, dtype=np.float64)


def within_cluster_h(pos_patients, pos_scores, neg_patients, neg_scores, n_patients) -> np.ndarray:
    """Σ H(s_i − s_j) over positive i and negative j of the same patient, per patient (P,)."""
    per_neg = np.bincount(neg_patients, minlength=n_patients)
    start = np.cumsum(per_neg) - per_neg
    neg_order = np.argsort(neg_patients, kind="stable")
    reps = per_neg[pos_patients]
    total = int(reps.sum())
    if total == 0:
        return np.zeros(n_patients)
    pi = np.repeat(np.arange(pos_patients.shape[0]), reps)
    offset = np.arange(total) - np.repeat(np.cumsum(reps) - reps, reps)
    nj = neg_order[start[pos_patients[pi]] + offset]
    d = pos_scores[pi] - neg_scores[nj]
    h = (d > 0) + 0.5 * (d == 0)
    return np.bincount(pos_patients[pi], weights=h, minlength=n_patients)
