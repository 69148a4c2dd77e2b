"""AUROC under per-patient integer weights, for many weight vectors at once.

A bootstrap replicate that draws patient p c_p times is the original sample with every image of
p weighted c_p, so each replicate's AUROC is a weighted Mann–Whitney statistic

    U(w) = Σ_{i pos, j neg} w_i w_j H(s_i − s_j),   H(d) = 1 if d > 0, ½ if d = 0, 0 if d < 0,

and AUROC = U / (W_pos · W_neg). Sorting happens once per (label, model): the smaller class is
the *anchor*; its distinct scores v_1 < … < v_G split the other class into G bins. With
A_k = anchor weight at v_k, T_k = other-class weight in (v_{k−1}, v_k] and E_k = other-class
weight tied at v_k, U = Σ_k A_k (Σ_{k'≤k} T_k' − ½ E_k). Adjacent anchor groups with no
other-class row between them are merged (fewer columns). A, T, E are linear in the patient
counts, so one sparse (≤ 3G + 1 × P) matrix turns a block of replicates' counts into all of them
with one sparse–dense product, then a prefix sum over bins: O(n · R) work, no sort per replicate.
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
        values, anchor_group = np.unique(anchor_s, return_inverse=True)
        g = values.shape[0]
        k = np.searchsorted(values, other_s, side="left")  # bin (v_{k-1}, v_k]; g = above v_g
        tied = np.zeros(k.shape, dtype=bool)
        tied[k < g] = values[k[k < g]] == other_s[k < g]
        # Anchor groups with no other-class row between them share their count below: merge them
        # into runs (a group with ties stays alone, its ½ applies to it only).
        nonempty = np.bincount(k, minlength=g + 1)[:g] > 0
        has_tie = np.bincount(k[tied], minlength=g) > 0
        new_run = nonempty.copy()
        new_run[0] = True
        new_run[1:] |= has_tie[:-1]
        run = np.cumsum(new_run) - 1
        n_runs = int(run[-1]) + 1
        run_of_bin = np.append(run, n_runs)  # rows above the top anchor score: the last bin
        tie_runs, tie_col = np.unique(run[k[tied]], return_inverse=True)
        self.n_runs = n_runs
        self.tie_runs = tie_runs
        rows = np.concatenate([anchor_p, other_p, other_p[tied]])
        cols = np.concatenate([run[anchor_group], n_runs + run_of_bin[k],
                               2 * n_runs + 1 + tie_col])
        n_cols = 2 * n_runs + 1 + tie_runs.shape[0]
        # transposed (columns × patients) CSR: the product with counts^T streams patient rows;
        # float32 is exact here (integer sums below 2^24) and halves the memory traffic
        self.map_t = sp.csr_matrix(
            (np.ones(rows.shape[0], dtype=np.float32), (cols, rows)),
            shape=(n_cols, n_patients),
        )

    def __call__(self, counts_t: np.ndarray) -> np.ndarray:
        """AUROC for each column of `counts_t` (float32 P × R patient weights); NaN if a class is empty."""
        n = self.n_runs
        x = self.map_t @ counts_t  # (n_cols, R) float32, exact integer sums
        anchor = x[:n]
        below = prefix_sum_rows(x[n:2 * n + 1])  # other-class weight at or below each run
        other_total = below[n].astype(np.float64)
        if self.tie_runs.shape[0]:
            below[self.tie_runs] -= 0.5 * x[2 * n + 1:]
        u = np.einsum("kr,kr->r", anchor, below[:n], dtype=np.float64)  # exact in float64
        denom = anchor.sum(axis=0, dtype=np.float64) * other_total
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, u / np.where(denom > 0, denom, 1.0), np.nan)


def prefix_sum_rows(x: np.ndarray) -> np.ndarray:
    """In-place cumulative sum down the rows of a C-ordered (G, R) array; returns it.

    numpy's cumsum along axis 0 walks each column with a stride of a whole row and is several
    times slower than memory speed; blocks of rows updated with contiguous row operations,
    then the block totals carried over, give the same sums (exact for integer weights).
    """
    g = x.shape[0]
    block = int(min(256, max(16, np.sqrt(g))))
    n_blocks = g // block
    if n_blocks < 2:
        for i in range(1, g):
            x[i] += x[i - 1]
        return x
    x3 = x[: n_blocks * block].reshape(n_blocks, block, x.shape[1])
    for i in range(1, block):
        x3[:, i] += x3[:, i - 1]
    carry = np.cumsum(x3[:, -1], axis=0)
    x3[1:] += carry[:-1, None, :]
    for i in range(n_blocks * block, g):
        x[i] += x[i - 1]
    return x


def patient_count_blocks(n_patients: int, n_replicates: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap counts, transposed: float32 (P, r) with r ≤ BLOCK columns.

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
        yield np.ascontiguousarray(counts.T, dtype=np.float32)


def within_cluster_h(pos_patients, pos_scores, neg_patients, neg_scores, n_patients) -> np.ndarray:
    """Σ H(s_i − s_j) over positive i and negative j of the same patient, per patient: (P,), or (K, P)
    for the scores of K models ((K, m) and (K, n))."""
    pos_scores, neg_scores = np.asarray(pos_scores), np.asarray(neg_scores)
    many = pos_scores.ndim == 2
    pos_scores, neg_scores = np.atleast_2d(pos_scores), np.atleast_2d(neg_scores)
    k_models = pos_scores.shape[0]
    per_neg = np.bincount(neg_patients, minlength=n_patients)
    start = np.cumsum(per_neg) - per_neg
    neg_order = np.argsort(neg_patients, kind="stable")
    reps = per_neg[pos_patients]
    total = int(reps.sum())
    if total == 0:
        out = np.zeros((k_models, n_patients))
        return out if many else out[0]
    pi = np.repeat(np.arange(pos_patients.shape[0]), reps)
    offset = np.arange(total) - np.repeat(np.cumsum(reps) - reps, reps)
    nj = neg_order[start[pos_patients[pi]] + offset]
    d = pos_scores[:, pi] - neg_scores[:, nj]
    h = (d > 0) + 0.5 * (d == 0)
    out = per_model_bincount(pos_patients[pi], h, n_patients)
    return out if many else out[0]


def per_model_bincount(groups: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """(K, G) sums of (K, n) `weights` by the shared group index `groups` (n,): one bincount for all K."""
    k_models = weights.shape[0]
    index = (np.arange(k_models)[:, None] * n_groups + groups[None, :]).ravel()
    return np.bincount(index, weights=weights.ravel(), minlength=k_models * n_groups).reshape(k_models, n_groups)
