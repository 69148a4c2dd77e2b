"""Paired bootstrap over patients for Δ macro AUROC between two models on the same images.

Patients, not images, are resampled (clustered bootstrap): a patient has several images whose
scores are correlated, and the study's test sets are split by patient. Replicate r draws the P
patients with replacement; its AUROCs are weighted Mann–Whitney statistics computed without
re-sorting (see `_weighted`). The BCa acceleration comes from the leave-one-patient-out
(cluster) jackknife, computed in closed form from DeLong's structural components.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

from cxrbench.stats._inputs import (
    as_groups,
    as_labels,
    as_scores,
    check_confidence,
    label_names,
)
from cxrbench.stats._record import Record
from cxrbench.stats._weighted import WeightedAuc, patient_count_blocks, per_model_bincount, within_cluster_h
from cxrbench.stats.auroc import undefined_reason
from cxrbench.stats.delong import structural_components
from cxrbench.stats.errors import StatsError

P_VALUE_METHOD = (
    "two-sided, shifted null (Hall & Wilson 1991): p = (1 + #{|Δ*_r − Δ̂| ≥ |Δ̂|}) / (R + 1), "
    "i.e. the bootstrap distribution of Δ* − Δ̂ stands in for the null distribution of Δ̂"
)


@dataclass(frozen=True)
class BootstrapLabelDelta(Record):
    """One label of `paired_bootstrap`: AUROCs, Δ = auc_a − auc_b, its percentile CI and shifted-null p
    (a record's per-label Δ is `cxrbench.results.LabelDelta`)."""

    label: str
    auc_a: float
    auc_b: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    n_pos: int
    n_neg: int
    reason: str | None = None


@dataclass(frozen=True)
class BootstrapResult(Record):
    """Paired clustered bootstrap of Δ macro AUROC = macro_a − macro_b.

    `ci_percentile` and `ci_bca` are (low, high) at `confidence`; `p_value` is described by
    `p_value_method`. The macro averages the labels defined on the full test set (`macro_labels`);
    a replicate in which one of them lost a class averages the rest (`n_degenerate` counts those).
    """

    macro_a: float
    macro_b: float
    delta: float
    se: float
    ci_percentile: tuple[float, float]
    ci_bca: tuple[float, float]
    p_value: float
    p_value_method: str
    ci_macro_a: tuple[float, float]
    ci_macro_b: tuple[float, float]
    bias_correction: float  # BCa z0
    acceleration: float  # BCa a, from the cluster jackknife
    macro_labels: tuple[str, ...]
    per_label: tuple[BootstrapLabelDelta, ...]
    n_images: int
    n_patients: int
    n_replicates: int
    n_degenerate: int
    seed: int
    confidence: float
    reason: str | None = None  # why BCa is undefined, else None
    replicates: np.ndarray = field(repr=False, compare=False, default=None)  # Δ* per replicate


@dataclass(frozen=True)
class _Prepared:
    y: np.ndarray  # (N, L)
    scores: np.ndarray  # (K, N, L)
    patients: np.ndarray  # (N,) codes
    n_patients: int
    names: tuple[str, ...]
    defined: np.ndarray  # (L,) bool: both classes present on the full set
    reasons: tuple[str | None, ...]
    n_pos: np.ndarray
    n_neg: np.ndarray


def prepare(y_true, score_list, patient_ids, labels, *, score_names: Sequence[str] | None = None) -> _Prepared:
    """Validate labels, K models' scores and patient ids; find the labels with both classes.
    `score_names`: how an error names each model's scores (default `scores[k]`)."""
    y, _ = as_labels(y_true)
    names = list(score_names) if score_names is not None else [f"scores[{k}]" for k in range(len(score_list))]
    scores = np.stack([as_scores(s, y.shape, name=n) for n, s in zip(names, score_list)])
    patients, n_patients = as_groups(patient_ids, y.shape[0])
    names = label_names(labels, y.shape[1], y_true)
    n_pos = (y == 1).sum(axis=0)
    n_neg = (y == 0).sum(axis=0)
    reasons = tuple(undefined_reason(int(p), int(n)) for p, n in zip(n_pos, n_neg))
    defined = np.array([r is None for r in reasons])
    return _Prepared(y, scores, patients, n_patients, names, defined, reasons, n_pos, n_neg)


def bootstrap_aurocs(prep: _Prepared, n_replicates: int, seed: int,
                     subsets: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """AUROC of every model, label and replicate: (K, L, R); NaN where a class is empty.

    With `subsets` (bool (N,) masks, e.g. subgroups) the result is (S, K, L, R): each subset is
    scored on its own rows while patients are drawn once from the whole set, so all subsets
    share the same replicates (needed for the CI of a gap between groups).
    """
    if isinstance(n_replicates, bool) or not isinstance(n_replicates, (int, np.integer)) \
            or n_replicates < 1:
        raise StatsError(f"n_replicates must be an integer ≥ 1, got {n_replicates!r}")
    k_models, _, n_labels = prep.scores.shape
    masks = [None] if subsets is None else list(subsets)
    kernels = []
    for g, rows in enumerate(masks):
        for j in range(n_labels):
            scored = (prep.y[:, j] == 0) | (prep.y[:, j] == 1)
            if rows is not None:
                scored &= rows
            positive = prep.y[scored, j] == 1
            if positive.all() or not positive.any():
                continue
            for k in range(k_models):
                kernel = WeightedAuc(positive, prep.scores[k, scored, j], prep.patients[scored],
                                     prep.n_patients)
                kernels.append((g, k, j, kernel))
    out = np.full((len(masks), k_models, n_labels, n_replicates), np.nan)
    start = 0
    for counts_t in patient_count_blocks(prep.n_patients, n_replicates, seed):
        stop = start + counts_t.shape[1]
        for g, k, j, kernel in kernels:
            out[g, k, j, start:stop] = kernel(counts_t)
        start = stop
    return out[0] if subsets is None else out


def full_aurocs(prep: _Prepared) -> np.ndarray:
    """AUROC of every model and label on the whole set: (K, L); NaN for undefined labels."""
    out = np.full((prep.scores.shape[0], prep.scores.shape[2]), np.nan)
    for j in np.flatnonzero(prep.defined):
        scored = (prep.y[:, j] == 0) | (prep.y[:, j] == 1)
        out[:, j] = structural_components(prep.y[scored, j] == 1, prep.scores[:, scored, j])[0]
    return out


def jackknife_aurocs(prep: _Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Full-set AUROCs (K, L) and leave-one-patient-out AUROCs (K, L, P), in closed form.

    U_{−p} = U − Σ_{pos i ∈ p} n·V10_i − Σ_{neg j ∈ p} m·V01_j + Σ_{i, j ∈ p} H(s_i − s_j).
    """
    k_models, _, n_labels = prep.scores.shape
    out = np.full((k_models, n_labels, prep.n_patients), np.nan)
    full = np.full((k_models, n_labels), np.nan)
    for j in np.flatnonzero(prep.defined):
        scored = (prep.y[:, j] == 0) | (prep.y[:, j] == 1)
        positive = prep.y[scored, j] == 1
        pats = prep.patients[scored]
        pos_p, neg_p = pats[positive], pats[~positive]
        m, n = int(positive.sum()), int((~positive).sum())
        m_left = m - np.bincount(pos_p, minlength=prep.n_patients)
        n_left = n - np.bincount(neg_p, minlength=prep.n_patients)
        s = prep.scores[:, scored, j]
        auc, v10, v01 = structural_components(positive, s)
        full[:, j] = auc
        u_left = ((auc * m * n)[:, None] - per_model_bincount(pos_p, n * v10, prep.n_patients)
                  - per_model_bincount(neg_p, m * v01, prep.n_patients)
                  + within_cluster_h(pos_p, s[:, positive], neg_p, s[:, ~positive], prep.n_patients))
        denom = m_left * n_left
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(denom > 0, u_left / np.where(denom > 0, denom, 1), np.nan)
    return full, out


def nanmean_quiet(x: np.ndarray, axis: int) -> np.ndarray:
    """Mean over finite entries; NaN (no warning) where a slice has none."""
    finite = np.isfinite(x)
    count = finite.sum(axis=axis)
    total = np.where(finite, x, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def shifted_null_p(replicates: np.ndarray, observed: float) -> float:
    """Two-sided bootstrap p-value; see P_VALUE_METHOD."""
    r = replicates[np.isfinite(replicates)]
    if r.size == 0 or not np.isfinite(observed):
        return float("nan")
    extreme = np.abs(r - observed) >= abs(observed) - 1e-12 * max(1.0, abs(observed))
    return float((1 + extreme.sum()) / (r.size + 1))


def percentile_ci(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    r = replicates[np.isfinite(replicates)]
    if r.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(r, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return (float(lo), float(hi))


def bca_ci(replicates: np.ndarray, observed: float, jackknife: np.ndarray, confidence: float):
    """BCa interval (Efron 1987). Returns ((low, high), z0, a, reason-or-None)."""
    r = replicates[np.isfinite(replicates)]
    jk = jackknife[np.isfinite(jackknife)]
    nan2 = (float("nan"), float("nan"))
    if r.size == 0:
        return nan2, float("nan"), float("nan"), "no finite bootstrap replicate"
    share_below = (np.sum(r < observed) + 0.5 * np.sum(r == observed)) / r.size
    if share_below <= 0.0 or share_below >= 1.0:
        return nan2, float("nan"), float("nan"), (
            "BCa undefined: every replicate lies on one side of the estimate")
    z0 = float(ndtri(share_below))
    dev = jk.mean() - jk if jk.size else np.zeros(1)
    denom = 6.0 * np.sum(dev**2) ** 1.5
    a = float(np.sum(dev**3) / denom) if denom > 0 else 0.0
    zq = ndtri(np.array([0.5 - confidence / 2, 0.5 + confidence / 2]))
    adjusted = ndtr(z0 + (z0 + zq) / (1.0 - a * (z0 + zq)))
    lo, hi = np.quantile(r, adjusted)
    return (float(lo), float(hi)), z0, a, None


def paired_bootstrap(y_true, score_a, score_b, patient_ids, *, labels: Sequence[str] | None = None,
                     n_replicates: int = 2000, seed: int = 0,
                     confidence: float = 0.95) -> BootstrapResult:
    """Clustered paired bootstrap of Δ macro AUROC = macro(score_a) − macro(score_b).

    Resamples patients with replacement (`patient_ids`, one per image), seeded: same inputs and
    seed → same result. Percentile and BCa intervals; the p-value is two-sided with the shifted
    null (see `P_VALUE_METHOD`). Per-label Δ with percentile CIs and p are in `per_label`.
    Labels are (N,) or (N, L) of 1/0/-1/NaN, -1/NaN rows dropped per label. Raises StatsError
    for bad input or when no label has both classes.
    """
    confidence = check_confidence(confidence)
    prep = prepare(y_true, [score_a, score_b], patient_ids, labels)
    if not prep.defined.any():
        raise StatsError("paired_bootstrap: no label has both positive and negative rows")
    boot = bootstrap_aurocs(prep, n_replicates, seed)  # (2, L, R)
    full, jk = jackknife_aurocs(prep)
    d = prep.defined
    macro = full[:, d].mean(axis=1)
    delta = float(macro[0] - macro[1])
    boot_d = boot[:, d, :]
    n_degenerate = int(np.isnan(boot_d).any(axis=(0, 1)).sum())
    macro_star = nanmean_quiet(boot_d, axis=1)  # (2, R)
    delta_star = macro_star[0] - macro_star[1]
    jk_delta = nanmean_quiet(jk[0, d] - jk[1, d], axis=0)
    ci_bca, z0, accel, reason = bca_ci(delta_star, delta, jk_delta, confidence)
    per_label = []
    for j, name in enumerate(prep.names):
        if not prep.defined[j]:
            nan = float("nan")
            per_label.append(BootstrapLabelDelta(name, nan, nan, nan, nan, nan, nan, int(prep.n_pos[j]),
                                        int(prep.n_neg[j]), prep.reasons[j]))
            continue
        dj = boot[0, j] - boot[1, j]
        lo, hi = percentile_ci(dj, confidence)
        obs = float(full[0, j] - full[1, j])
        per_label.append(BootstrapLabelDelta(name, float(full[0, j]), float(full[1, j]), obs, lo, hi,
                                    shifted_null_p(dj, obs), int(prep.n_pos[j]),
                                    int(prep.n_neg[j])))
    finite = delta_star[np.isfinite(delta_star)]
    return BootstrapResult(
        macro_a=float(macro[0]), macro_b=float(macro[1]), delta=delta,
        se=float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
        ci_percentile=percentile_ci(delta_star, confidence), ci_bca=ci_bca,
        p_value=shifted_null_p(delta_star, delta), p_value_method=P_VALUE_METHOD,
        ci_macro_a=percentile_ci(macro_star[0], confidence),
        ci_macro_b=percentile_ci(macro_star[1], confidence),
        bias_correction=z0, acceleration=accel,
        macro_labels=tuple(n for n, ok in zip(prep.names, d) if ok), per_label=tuple(per_label),
        n_images=int(prep.y.shape[0]), n_patients=prep.n_patients, n_replicates=int(n_replicates),
        n_degenerate=n_degenerate, seed=int(seed), confidence=confidence, reason=reason,
        replicates=delta_star,
    )


@dataclass(frozen=True)
class LabelInterval(Record):
    """One label's AUROC with a clustered-bootstrap percentile CI."""

    label: str
    auc: float
    ci_low: float
    ci_high: float
    n_pos: int
    n_neg: int
    reason: str | None = None


@dataclass(frozen=True)
class AurocBootstrap(Record):
    """One model's macro AUROC with clustered-bootstrap percentile and BCa CIs, and per label."""

    macro: float
    se: float
    ci_percentile: tuple[float, float]
    ci_bca: tuple[float, float]
    macro_labels: tuple[str, ...]
    per_label: tuple[LabelInterval, ...]
    n_images: int
    n_patients: int
    n_replicates: int
    n_degenerate: int
    seed: int
    confidence: float
    reason: str | None = None  # why BCa is undefined, else None
    replicates: np.ndarray = field(repr=False, compare=False, default=None)  # macro* per replicate


def bootstrap_auroc(y_true, y_score, patient_ids, *, labels: Sequence[str] | None = None,
                    n_replicates: int = 2000, seed: int = 0,
                    confidence: float = 0.95) -> AurocBootstrap:
    """One model's macro AUROC with clustered (patient) bootstrap CIs, percentile and BCa.

    Same resampling as `paired_bootstrap` (same seed → same replicates); per-label CIs are
    percentile. Raises StatsError for bad input or when no label has both classes.
    """
    confidence = check_confidence(confidence)
    prep = prepare(y_true, [y_score], patient_ids, labels)
    if not prep.defined.any():
        raise StatsError("bootstrap_auroc: no label has both positive and negative rows")
    d = prep.defined
    boot = bootstrap_aurocs(prep, n_replicates, seed)[0]  # (L, R)
    full, jk = jackknife_aurocs(prep)
    macro = float(full[0, d].mean())
    macro_star = nanmean_quiet(boot[d], axis=0)
    ci_bca, _, _, reason = bca_ci(macro_star, macro, nanmean_quiet(jk[0, d], axis=0), confidence)
    per_label = []
    for j, name in enumerate(prep.names):
        lo, hi = percentile_ci(boot[j], confidence) if d[j] else (float("nan"), float("nan"))
        per_label.append(LabelInterval(name, float(full[0, j]), lo, hi, int(prep.n_pos[j]),
                                       int(prep.n_neg[j]), prep.reasons[j]))
    finite = macro_star[np.isfinite(macro_star)]
    return AurocBootstrap(
        macro=macro, se=float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
        ci_percentile=percentile_ci(macro_star, confidence), ci_bca=ci_bca,
        macro_labels=tuple(n for n, ok in zip(prep.names, d) if ok), per_label=tuple(per_label),
        n_images=int(prep.y.shape[0]), n_patients=prep.n_patients,
        n_replicates=int(n_replicates), n_degenerate=int(np.isnan(boot[d]).any(axis=0).sum()),
        seed=int(seed), confidence=confidence, reason=reason, replicates=macro_star,
    )
