"""Results over classifier training seeds, and comparing two submissions trained with several.

A submission's AUROC varies with the classifier's training seed and with the test set drawn.
`compare_submissions` accounts for both by a variance decomposition:

    Var(Δ̂) = Var_test + Var_seed,

where Δ̂ = mean over A's seeds of macro AUROC − mean over B's seeds. Var_test is the clustered
(patient) bootstrap variance of that seed-averaged Δ with the trained models held fixed;
Var_seed = s²_A / S_A + s²_B / S_B from the spread of each submission's macro AUROC over its
seeds on the full test set (with `paired_seeds`, s² of the per-seed differences / S). The test
is a t-test with Welch–Satterthwaite degrees of freedom for the seed part (the test-set part
counts as infinite). Why not only a two-level bootstrap (resample seeds and patients): with the
3 seeds of a `standard` task, resampling seeds with replacement shrinks the seed variance by
(S − 1) / S and ignores that s² itself is estimated from 3 values; the two-level bootstrap is
still reported (`ci_two_level`, `p_two_level`) for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtr, stdtrit  # Student t cdf and quantile (light import)

from cxrbench.stats._inputs import check_confidence
from cxrbench.stats._record import Record
from cxrbench.stats.bootstrap import (
    bootstrap_aurocs, full_aurocs, nanmean_quiet, percentile_ci, prepare, shifted_null_p,
)
from cxrbench.stats.errors import StatsError


@dataclass(frozen=True)
class SeedAggregate(Record):
    """Mean over training seeds, sample sd (n − 1), and a t-interval for the mean."""

    mean: float
    sd: float
    se: float
    ci_low: float
    ci_high: float
    n_seeds: int
    confidence: float
    values: tuple[float, ...]
    reason: str | None = None  # why sd and the CI are NaN (one seed), else None


def aggregate_seeds(values, *, confidence: float = 0.95) -> SeedAggregate:
    """Mean, sd and t-based CI of a metric measured once per training seed."""
    confidence = check_confidence(confidence)
    v = np.array(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise StatsError("aggregate_seeds: no values")
    if not np.isfinite(v).all():
        raise StatsError(f"aggregate_seeds: non-finite value at seed {int(np.argmax(~np.isfinite(v)))}")
    mean = float(v.mean())
    if v.size == 1:
        nan = float("nan")
        return SeedAggregate(mean, nan, nan, nan, nan, 1, confidence, (mean,),
                             "one seed: no spread over seeds can be estimated")
    sd = float(v.std(ddof=1))
    se = sd / np.sqrt(v.size)
    half = float(stdtrit(v.size - 1, 0.5 + confidence / 2) * se)
    return SeedAggregate(mean, sd, float(se), mean - half, mean + half, int(v.size), confidence,
                         tuple(float(x) for x in v))


@dataclass(frozen=True)
class SubmissionComparison(Record):
    """Δ macro AUROC (A − B, seed means) with test-set and seed variance both accounted for."""

    delta: float
    se: float
    var_test: float
    var_seed: float
    dof: float
    t: float
    p_value: float
    ci_low: float
    ci_high: float
    ci_two_level: tuple[float, float]
    p_two_level: float
    macro_a: SeedAggregate
    macro_b: SeedAggregate
    per_label_delta: dict[str, float]
    macro_labels: tuple[str, ...]
    paired_seeds: bool
    n_replicates: int
    seed: int
    confidence: float
    method: str
    reason: str | None = None  # caveat (e.g. one seed: seed variance not estimable), else None


METHOD = ("t-test on Δ = mean_A − mean_B of per-seed macro AUROC; se² = Var_test (clustered "
          "patient bootstrap of the seed-averaged Δ) + Var_seed (between-seed variance / S); "
          "Welch–Satterthwaite dof")


def _stack(scores, name):
    arr = [np.asarray(s) for s in scores]
    if not arr:
        raise StatsError(f"{name}: no seeds given")
    return arr


def compare_submissions(y_true, scores_a: Sequence, scores_b: Sequence, patient_ids, *,
                        labels: Sequence[str] | None = None, paired_seeds: bool = False,
                        n_replicates: int = 2000, seed: int = 0,
                        confidence: float = 0.95) -> SubmissionComparison:
    """Compare submission A with B, each scored once per classifier training seed.

    `scores_a`, `scores_b`: sequences (or (S, N, L) arrays) of per-seed scores on the same
    images. `paired_seeds=True` when seed s of A and of B share their training seed (S_A = S_B
    required): the seed variance is then that of the per-seed differences. See the module
    docstring for the method; p is two-sided.
    """
    confidence = check_confidence(confidence)
    list_a, list_b = _stack(scores_a, "scores_a"), _stack(scores_b, "scores_b")
    s_a, s_b = len(list_a), len(list_b)
    if paired_seeds and s_a != s_b:
        raise StatsError(f"paired_seeds needs as many seeds for A as for B (have {s_a}, {s_b})")
    prep = prepare(y_true, list_a + list_b, patient_ids, labels)
    d = prep.defined
    if not d.any():
        raise StatsError("compare_submissions: no label has both positive and negative rows")
    full = full_aurocs(prep)  # (S_a + S_b, L)
    macro = full[:, d].mean(axis=1)
    macro_a, macro_b = macro[:s_a], macro[s_a:]
    delta = float(macro_a.mean() - macro_b.mean())
    boot = nanmean_quiet(bootstrap_aurocs(prep, n_replicates, seed)[:, d, :], axis=1)  # (K, R)
    fixed = boot[:s_a].mean(axis=0) - boot[s_a:].mean(axis=0)
    fixed = fixed[np.isfinite(fixed)]
    var_test = float(fixed.var(ddof=1)) if fixed.size > 1 else 0.0
    reasons = []
    if paired_seeds:
        parts = [(np.var(macro_a - macro_b, ddof=1) / s_a, s_a - 1)] if s_a > 1 else []
        if s_a == 1:
            reasons.append("one seed per submission: training-seed variance not estimated")
    else:
        parts = []
        for name, m in (("A", macro_a), ("B", macro_b)):
            if m.size > 1:
                parts.append((np.var(m, ddof=1) / m.size, m.size - 1))
            else:
                reasons.append(f"one seed for {name}: its training-seed variance not estimated")
    var_seed = float(sum(v for v, _ in parts))
    var = var_test + var_seed
    se = float(np.sqrt(var))
    denom = sum(v**2 / nu for v, nu in parts)
    dof = float(var**2 / denom) if denom > 0 else float("inf")
    nan = float("nan")
    if se > 0:
        t = delta / se
        p = float(2 * stdtr(dof, -abs(t)))
        half = float(stdtrit(dof, 0.5 + confidence / 2) * se)
    elif delta == 0:
        t, p, half = 0.0, 1.0, 0.0
    else:
        t, p, half = nan, nan, nan
        reasons.append("zero variance but a non-zero difference")
    # two-level bootstrap: seeds and patients resampled together, for comparison
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**20,)))
    pick_a = rng.integers(0, s_a, size=(boot.shape[1], s_a))
    pick_b = pick_a if paired_seeds else rng.integers(0, s_b, size=(boot.shape[1], s_b))
    cols = np.arange(boot.shape[1])[:, None]
    two_level = boot[:s_a][pick_a, cols].mean(axis=1) - boot[s_a:][pick_b, cols].mean(axis=1)
    per_label = {prep.names[j]: float(full[:s_a, j].mean() - full[s_a:, j].mean())
                 for j in np.flatnonzero(d)}
    return SubmissionComparison(
        delta=delta, se=se, var_test=var_test, var_seed=var_seed, dof=dof, t=float(t), p_value=p,
        ci_low=delta - half, ci_high=delta + half,
        ci_two_level=percentile_ci(two_level, confidence),
        p_two_level=shifted_null_p(two_level, delta),
        macro_a=aggregate_seeds(macro_a, confidence=confidence),
        macro_b=aggregate_seeds(macro_b, confidence=confidence),
        per_label_delta=per_label, macro_labels=tuple(n for n, ok in zip(prep.names, d) if ok),
        paired_seeds=bool(paired_seeds), n_replicates=int(n_replicates), seed=int(seed),
        confidence=confidence, method=METHOD, reason="; ".join(reasons) or None,
    )
