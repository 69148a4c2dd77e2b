"""One inference procedure for every reported AUROC figure: patients and training seeds both vary.

A result is the *seed mean*: the mean over classifier training seeds of an AUROC (macro over a
fixed label set, or one label) on a test set drawn from patients. Its error has two sources,
the test patients drawn and the training seeds drawn. For seeds s = 1..S on one test set,

    x_s = μ + a_s + e_s,    Var(a_s) = σ²_seed (independent),
                            Cov(e_s, e_t) = c,  Var(e_s) = v   (the same patients score every seed),

so Var(x̄) = σ²_seed / S + Var(ē). Both parts are estimated from the data at hand:

- **test part** Var(ē) and the whole covariance matrix of (e_1..e_S): the leave-one-patient-out
  (cluster) jackknife of the AUROCs, in closed form from DeLong's structural components
  (`jackknife_aurocs`; for one AUROC this is the clustered DeLong variance of Obuchowski 1997).
  Deterministic: no Monte Carlo error, no replicate in which a label loses a class.
- the spread s² of x_s over seeds estimates σ²_seed + (v − c): the seed-specific part of the
  test error is already in it. So Var(x̄) = c + (σ²_seed + v − c)/S is estimated by
  ĉ + s²/S, with ĉ the mean off-diagonal element of the jackknife covariance Σ of (x_1..x_S):
  each source of variance counted once. (Adding s²/S to the whole test variance 1ᵀΣ1/S², as the
  old `compare_submissions` did, counts the seed-specific test error twice: it rejected ≈ 2 % of
  true nulls.) In a record, `var_test` is ĉ and `var_seed` is s²/S.

A difference of two arms (A − B) is the same construction on the differences: with paired seeds
(seed s of A and of B share their training seed) on d_s = x_{A,s} − x_{B,s}; otherwise per arm,
Welch style (seeds of different arms are independent; their shared test errors covary through
the cross-covariances of Σ). The test is a t-test with Welch–Satterthwaite degrees of freedom
(each s²/S part S − 1, the test part ∞); the CI is estimate ± t·se, so the CI excludes 0 exactly when p < α. The
minimum detectable effect at power 1 − β is (t_{1−α/2,ν} + t_{1−β,ν})·se.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri, stdtr, stdtrit

from cxrbench.stats._record import Record
from cxrbench.stats.bootstrap import jackknife_aurocs, prepare
from cxrbench.stats.errors import StatsError

ALPHA = 0.05
POWER = 0.80

METHOD = ("seed mean over classifier training seeds; variance = test-set error shared by all seeds "
          "(mean cross-seed covariance of the patient-clustered leave-one-patient-out jackknife) + spread over "
          "seeds / number of seeds; t-test with Welch–Satterthwaite degrees of freedom; CI = estimate ± t·se")


@dataclass(frozen=True)
class Eligibility(Record):
    """Which labels enter the macro of one eval set, fixed before any resampling."""

    included: tuple[str, ...]
    excluded: tuple[str, ...]
    positive_patients: dict[str, int]
    negative_patients: dict[str, int]
    min_positive_patients: int
    min_negative_patients: int

    def mask(self, names: Sequence[str]) -> np.ndarray:
        return np.array([n in self.included for n in names])


def eligible_labels(y_true, patient_ids, names: Sequence[str], *, min_positive: int = 20,
                    min_negative: int = 20) -> Eligibility:
    """Labels with ≥ `min_positive` patients having a positive image and ≥ `min_negative` a negative one."""
    y = np.asarray(y_true, dtype=np.float64)
    patients = np.asarray(patient_ids).astype(str)
    codes, uniq = _codes(patients)
    pos, neg = {}, {}
    for j, name in enumerate(names):
        pos[name] = int(np.unique(codes[y[:, j] == 1]).size)
        neg[name] = int(np.unique(codes[y[:, j] == 0]).size)
    inc = tuple(n for n in names if pos[n] >= min_positive and neg[n] >= min_negative)
    exc = tuple(n for n in names if n not in inc)
    return Eligibility(inc, exc, pos, neg, int(min_positive), int(min_negative))


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, codes = np.unique(values, return_inverse=True)
    return codes, uniq


@dataclass(frozen=True)
class Estimate(Record):
    """A seed-mean AUROC figure (one arm) or a difference of two (A − B), with its inference."""

    estimate: float
    se: float
    var_test: float
    var_seed: float
    dof: float
    ci_low: float
    ci_high: float
    var_within: float  # the seed-specific part of the test error (inside var_seed; for variance budgets)
    p_value: float  # two-sided, H0: difference = 0 (NaN for one arm)
    mde: float  # minimum detectable |difference| at ALPHA, POWER for this design (NaN for one arm)
    per_seed: tuple[float, ...]  # the per-seed values (differences, when paired)
    reason: str | None = None


def _t_quantile(q: float, dof: float) -> float:
    return float(ndtri(q)) if not np.isfinite(dof) else float(stdtrit(dof, q))


def design_mde(se: float, dof: float, *, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest true difference detected with probability `power` by the two-sided level-α t-test."""
    return (_t_quantile(1 - alpha / 2, dof) + _t_quantile(power, dof)) * se


def _jackknife_cov(pseudo: np.ndarray) -> np.ndarray:
    """(M, P) leave-one-patient-out values of M statistics → their (M, M) jackknife covariance."""
    n = pseudo.shape[1]
    dev = pseudo - pseudo.mean(axis=1, keepdims=True)
    return (n - 1) / n * dev @ dev.T


def _arm_parts(values: np.ndarray, cov: np.ndarray) -> tuple[float, float, float, str | None, float]:
    """(test part, seed part, seed dof, caveat, within) of Var(mean over seeds) for one set of per-seed values.

    Var(x̄) = c + (σ²_seed + v − c) / S: the test error shared by all seeds (c, the mean
    off-diagonal jackknife covariance) plus the spread over seeds divided by S (its expectation
    is σ²_seed + v − c: the seed-specific part of the test error is in it, and counted once).
    With one seed the model is held fixed: the whole jackknife variance, no seed part. `within`
    estimates v − c, the part of the spread over seeds that is test error, not training seed.
    """
    s = values.size
    if s < 2:
        return (float(cov.sum()), 0.0, np.inf,
                "one seed: training-seed variance not estimated (the model is held fixed)", 0.0)
    shared = float((cov.sum() - np.trace(cov)) / (s * (s - 1)))
    within = float((np.trace(cov) - cov.sum() / s) / (s - 1))
    return max(shared, 0.0), float(np.var(values, ddof=1)) / s, float(s - 1), None, within


def _infer(estimate: float, var_test: float, seed_parts: list[tuple[float, float]], per_seed, *,
           two_sided_test: bool, confidence: float, reasons: list[str], within: float = 0.0) -> Estimate:
    var_seed = float(sum(v for v, _ in seed_parts))
    var = var_test + var_seed
    se = float(np.sqrt(max(var, 0.0)))
    denom = sum(v**2 / nu for v, nu in seed_parts if v > 0 and np.isfinite(nu))
    dof = float(var**2 / denom) if denom > 0 else float("inf")
    nan = float("nan")
    half = _t_quantile(0.5 + confidence / 2, dof) * se
    p, mde = nan, nan
    if two_sided_test:
        mde = design_mde(se, dof)
        if se > 0:
            t = estimate / se
            p = float(2 * (stdtr(dof, -abs(t)) if np.isfinite(dof) else _norm_cdf(-abs(t))))
        else:
            p = 1.0 if estimate == 0 else nan
            if estimate != 0:
                reasons.append("zero variance but a non-zero difference")
    return Estimate(float(estimate), se, float(var_test), var_seed, dof, float(estimate - half),
                    float(estimate + half), float(within), p, float(mde), tuple(float(x) for x in per_seed),
                    "; ".join(reasons) or None)


def _norm_cdf(x: float) -> float:
    from scipy.special import ndtr

    return float(ndtr(x))


@dataclass(frozen=True)
class SeedPatientResult(Record):
    """Macro and per-label estimates of one arm, or of a difference of two arms."""

    macro: Estimate
    per_label: dict[str, Estimate]
    macro_labels: tuple[str, ...]
    n_patients: int
    n_images: int
    n_seeds_a: int
    n_seeds_b: int
    paired_seeds: bool
    confidence: float
    #: seed-mean value of each arm, (A, B), for "macro" and each label (one-arm results: (A, NaN))
    arm_means: dict[str, tuple[float, float]] = None
    method: str = METHOD


def _pseudo(y, stacks, patient_ids, names, eligible):
    """Full-set AUROCs (K, L) and leave-one-patient-out AUROCs (K, L, P) of the K models."""
    mask = np.asarray(eligible, dtype=bool)
    if not mask.any():
        raise StatsError("no eligible label: nothing to score (see the eval set's excluded labels)")
    prep = prepare(y, list(stacks), patient_ids, names)
    missing = [n for n, ok, d in zip(prep.names, mask, prep.defined) if ok and not d]
    if missing:
        raise StatsError(f"eligible label(s) {missing} have one class only")
    full, jk = jackknife_aurocs(prep)
    if not np.isfinite(jk[:, mask]).all():
        raise StatsError("a patient holds every positive or every negative of an eligible label")
    return prep, full, jk, mask


def seed_mean(y_true, stack, patient_ids, *, labels: Sequence[str], eligible, confidence: float = 0.95
              ) -> SeedPatientResult:
    """Seed-mean macro and per-label AUROC of one arm ((S, N, L) scores), with CIs."""
    stack = np.asarray(stack, dtype=np.float64)
    prep, full, jk, mask = _pseudo(y_true, stack, patient_ids, labels, eligible)
    s = stack.shape[0]
    cols = [(n, [j]) for j, n in enumerate(prep.names) if mask[j]]
    out, means = {}, {}
    for name, idx in [("macro", list(np.flatnonzero(mask))), *cols]:
        per_seed = full[:, idx].mean(axis=1)
        means[name] = (float(per_seed.mean()), float("nan"))
        var_test, v_seed, nu, reason, within = _arm_parts(per_seed, _jackknife_cov(jk[:, idx, :].mean(axis=1)))
        out[name] = _infer(float(per_seed.mean()), var_test, [(v_seed, nu)] if s > 1 else [], per_seed,
                           two_sided_test=False, confidence=confidence, reasons=[reason] if reason else [],
                           within=within)
    return SeedPatientResult(out.pop("macro"), out, tuple(n for n, _ in cols), prep.n_patients,
                             int(prep.y.shape[0]), s, 0, False, confidence, means)


def seed_mean_delta(y_true, stack_a, stack_b, patient_ids, *, labels: Sequence[str], eligible,
                    paired_seeds: bool, confidence: float = 0.95) -> SeedPatientResult:
    """Δ = seed-mean AUROC of A − of B (macro over `eligible` labels, and per label), with CI and p.

    `stack_a`, `stack_b`: (S_A, N, L) and (S_B, N, L) scores on the same images. `paired_seeds`:
    seed s of A and of B share their training seed (S_A = S_B required).
    """
    stack_a, stack_b = np.asarray(stack_a, np.float64), np.asarray(stack_b, np.float64)
    if stack_a.ndim != 3 or stack_b.ndim != 3:
        raise StatsError("seed_mean_delta: scores must be (seeds, images, labels) arrays")
    s_a, s_b = stack_a.shape[0], stack_b.shape[0]
    if paired_seeds and s_a != s_b:
        raise StatsError(f"paired_seeds needs as many seeds for A as for B (have {s_a}, {s_b})")
    prep, full, jk, mask = _pseudo(y_true, np.concatenate([stack_a, stack_b]), patient_ids, labels, eligible)
    cols = [(n, [j]) for j, n in enumerate(prep.names) if mask[j]]
    out, means = {}, {}
    for name, idx in [("macro", list(np.flatnonzero(mask))), *cols]:
        x = full[:, idx].mean(axis=1)
        pseudo = jk[:, idx, :].mean(axis=1)  # (S_A + S_B, P)
        xa, xb = x[:s_a], x[s_a:]
        means[name] = (float(xa.mean()), float(xb.mean()))
        reasons: list[str] = []
        if paired_seeds:
            d = xa - xb
            var_test, v, nu, reason, within = _arm_parts(d, _jackknife_cov(pseudo[:s_a] - pseudo[s_a:]))
            parts = [(v, nu)] if s_a > 1 else []
            reasons += [reason] if reason else []
            per_seed = d
        else:
            cov = _jackknife_cov(pseudo)
            # seeds of different arms are independent: only their shared test error covaries
            var_test = -2.0 * float(cov[:s_a, s_a:].mean())
            parts, within = [], 0.0
            for arm, vals, sl in (("A", xa, slice(0, s_a)), ("B", xb, slice(s_a, None))):
                t, v, nu, reason, w = _arm_parts(vals, cov[sl, sl])
                var_test += t
                within += w / max(vals.size, 1)
                if vals.size > 1:
                    parts.append((v, nu))
                elif reason:
                    reasons.append(f"arm {arm}: {reason}")
            var_test = max(var_test, 0.0)
            per_seed = np.concatenate([xa, xb])
        out[name] = _infer(float(xa.mean() - xb.mean()), var_test, parts, per_seed, two_sided_test=True,
                           confidence=confidence, reasons=reasons,
                           within=within / s_a if paired_seeds else within)
    return SeedPatientResult(out.pop("macro"), out, tuple(n for n, _ in cols), prep.n_patients,
                             int(prep.y.shape[0]), s_a, s_b, bool(paired_seeds), confidence, means)
