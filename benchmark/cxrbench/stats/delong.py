"""DeLong's test: variance of the AUROC and of the difference of two correlated AUROCs.

Implements Sun & Xu (2014), "Fast implementation of DeLong's algorithm for comparing the areas
under correlated receiver operating characteristic curves": one sort per model and label, then
midranks (ties count one half) give the structural components V10 (per positive) and V01 (per
negative) in O(n log n). Var = S10 / m + S01 / n with the sample covariances S10, S01 across
models (denominators m - 1 and n - 1, as pROC). Labels are looped with this kernel because the
-1 / NaN masks make them ragged; each label costs one argsort of its (2, n) scores.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from cxrbench.stats._inputs import as_labels, as_scores, check_confidence, label_names
from cxrbench.stats._ranks import midranks_sorted
from cxrbench.stats._record import Record
from cxrbench.stats.auroc import undefined_reason


@dataclass(frozen=True)
class AurocInterval(Record):
    """One model's AUROC on one label with its DeLong variance and a normal CI clipped to [0, 1]."""

    label: str
    auc: float
    var: float
    ci_low: float
    ci_high: float
    confidence: float
    n_pos: int
    n_neg: int
    reason: str | None = None  # why some field is NaN, else None

    @property
    def se(self) -> float:
        return float(np.sqrt(self.var))


@dataclass(frozen=True)
class DelongComparison(Record):
    """DeLong's paired test of model A against model B on one label; `delta` = auc_a - auc_b.

    z = delta / sqrt(var_a + var_b - 2 cov); two-sided p from the standard normal; the CI of
    `delta` is delta ± z_{(1+confidence)/2} · se, clipped to [-1, 1].
    """

    label: str
    auc_a: float
    auc_b: float
    delta: float
    var_a: float
    var_b: float
    cov: float
    se: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    confidence: float
    n_pos: int
    n_neg: int
    reason: str | None = None  # why the test is undefined (NaN fields), else None

    @property
    def defined(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class DelongTable(Record):
    """Per-label DeLong comparisons of two models scored on the same images."""

    comparisons: tuple[DelongComparison, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.comparisons)

    @property
    def deltas(self) -> np.ndarray:
        return np.array([c.delta for c in self.comparisons])

    @property
    def p_values(self) -> np.ndarray:
        """Two-sided p per label (NaN where undefined): feed to `holm` / `benjamini_hochberg`."""
        return np.array([c.p_value for c in self.comparisons])

    def __getitem__(self, key: str | int) -> DelongComparison:
        if isinstance(key, (int, np.integer)):
            return self.comparisons[key]
        for c in self.comparisons:
            if c.label == key:
                return c
        raise KeyError(key)

    def __len__(self) -> int:
        return len(self.comparisons)

    def __iter__(self) -> Iterator[DelongComparison]:
        return iter(self.comparisons)


def structural_components(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUROCs and DeLong structural components of K models on one label (Sun & Xu).

    `positive`: bool (n,) with both classes present; `scores`: (K, n).
    Returns (auc (K,), v10 (K, m) per positive in input order, v01 (K, n_neg) per negative).
    v10[k, i] = share of negatives below positive i (ties ½); v01[k, j] = share of positives
    above negative j (ties ½).
    """
    n_models, n = scores.shape
    m = int(positive.sum())
    n_neg = n - m
    # position of each row among the positives / negatives, to put components back in case order
    case_index = np.where(positive, np.cumsum(positive) - 1, np.cumsum(~positive) - 1)
    order = np.argsort(scores, axis=1)
    auc = np.empty(n_models)
    v10 = np.empty((n_models, m))
    v01 = np.empty((n_models, n_neg))
    for k in range(n_models):
        o = order[k]
        s_sorted = scores[k, o]
        pos_sorted = positive[o]
        tz = midranks_sorted(s_sorted)
        tz_pos = tz[pos_sorted]
        tz_neg = tz[~pos_sorted]
        tx = midranks_sorted(s_sorted[pos_sorted])
        ty = midranks_sorted(s_sorted[~pos_sorted])
        auc[k] = (tz_pos.sum() - m * (m + 1) / 2.0) / (m * n_neg)
        v10[k, case_index[o[pos_sorted]]] = (tz_pos - tx) / n_neg
        v01[k, case_index[o[~pos_sorted]]] = 1.0 - (tz_neg - ty) / m
    return auc, v10, v01


def delong_covariance(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """DeLong covariance matrix (K, K) of the K AUROCs: S10 / m + S01 / n."""
    m, n = v10.shape[1], v01.shape[1]
    covariance: np.ndarray = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return covariance


def _label_rows(y: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
    scored = (y[:, j] == 0) | (y[:, j] == 1)
    positive = y[scored, j] == 1
    return scored, positive


def _variance_reason(n_pos: int, n_neg: int) -> str | None:
    if n_pos < 2 or n_neg < 2:
        return f"DeLong variance needs ≥ 2 positives and ≥ 2 negatives (have {n_pos}, {n_neg})"
    return None


def delong_ci(y_true: ArrayLike, y_score: ArrayLike, *, labels: Sequence[str] | None = None,
              confidence: float = 0.95) -> AurocInterval | tuple[AurocInterval, ...]:
    """One model's AUROC with DeLong variance and normal CI (clipped to [0, 1], as pROC).

    1-D labels → one AurocInterval; (N, L) labels → a tuple of L AurocIntervals.
    A label with one class only (or < 2 of either class) gets NaN fields and a reason.
    """
    confidence = check_confidence(confidence)
    y, one_d = as_labels(y_true)
    s = as_scores(y_score, y.shape)
    names = label_names(labels, y.shape[1], y_true)
    zq = ndtri(0.5 + confidence / 2.0)
    out = []
    for j, name in enumerate(names):
        scored, positive = _label_rows(y, j)
        n_pos = int(positive.sum())
        n_neg = int(positive.shape[0] - n_pos)
        reason = undefined_reason(n_pos, n_neg)
        auc = var = lo = hi = np.nan
        if reason is None:
            a, v10, v01 = structural_components(positive, s[scored, j][None, :])
            auc = float(a[0])
            reason = _variance_reason(n_pos, n_neg)
            if reason is None:
                var = float(delong_covariance(v10, v01)[0, 0])
                half = zq * np.sqrt(var)
                lo, hi = max(0.0, auc - half), min(1.0, auc + half)
        out.append(AurocInterval(name, auc, var, lo, hi, confidence, n_pos, n_neg, reason))
    return out[0] if one_d else tuple(out)


def _compare(name: str, positive: np.ndarray, scores_ab: np.ndarray, confidence: float, zq: float) -> DelongComparison:
    n_pos = int(positive.sum())
    n_neg = int(positive.shape[0] - n_pos)
    nan = float("nan")
    reason = undefined_reason(n_pos, n_neg)
    if reason is not None:
        return DelongComparison(name, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan,
                                confidence, n_pos, n_neg, reason)
    auc, v10, v01 = structural_components(positive, scores_ab)
    delta = float(auc[0] - auc[1])
    reason = _variance_reason(n_pos, n_neg)
    if reason is not None:
        return DelongComparison(name, float(auc[0]), float(auc[1]), delta, nan, nan, nan, nan,
                                nan, nan, nan, nan, confidence, n_pos, n_neg, reason)
    cov = delong_covariance(v10, v01)
    var_diff = max(float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]), 0.0)
    se = float(np.sqrt(var_diff))
    if se > 0.0:
        z = delta / se
        p = float(2.0 * ndtr(-abs(z)))
    elif delta == 0.0:
        # identical structural components (e.g. identical rankings): no evidence of a difference
        z, p = 0.0, 1.0
    else:
        z, p = nan, nan
        reason = "the AUROC difference has zero DeLong variance but is not zero"
    lo = max(-1.0, delta - zq * se)
    hi = min(1.0, delta + zq * se)
    return DelongComparison(name, float(auc[0]), float(auc[1]), delta, float(cov[0, 0]),
                            float(cov[1, 1]), float(cov[0, 1]), se, float(z), p, lo, hi,
                            confidence, n_pos, n_neg, reason)


def delong(y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike, *, labels: Sequence[str] | None = None,
           confidence: float = 0.95) -> DelongComparison | DelongTable:
    """DeLong's paired test of two models scored on the same images, per label.

    `delta` = auc_a − auc_b: pass the submission as `score_a` and the baseline as `score_b`.
    1-D labels → one DelongComparison; (N, L) labels → a DelongTable (rows with -1/NaN are
    dropped per label). Same numbers as pROC's `roc.test(method = "delong", paired = TRUE)`.
    A label with one class only gets NaN fields and a reason; bad input raises StatsError.
    """
    confidence = check_confidence(confidence)
    y, one_d = as_labels(y_true)
    a = as_scores(score_a, y.shape, name="score_a")
    b = as_scores(score_b, y.shape, name="score_b")
    names = label_names(labels, y.shape[1], y_true)
    zq = float(ndtri(0.5 + confidence / 2.0))
    out = []
    for j, name in enumerate(names):
        scored, positive = _label_rows(y, j)
        scores_ab = np.stack([a[scored, j], b[scored, j]])
        out.append(_compare(name, positive, scores_ab, confidence, zq))
    return out[0] if one_d else DelongTable(tuple(out))
