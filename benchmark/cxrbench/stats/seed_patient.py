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
the cross-covariances of Σ). A fixed model (a frozen classifier: one set of predictions) has no
seed part.

A difference is tested with Student's t at the **seed part's degrees of freedom** (S − 1 paired;
Welch's ν over the arms' seed parts otherwise): the test part adds none. Under the null the test
part of a difference of exchangeable arms is ≈ 0 and its estimate is noise; letting it add degrees
of freedom (Welch–Satterthwaite with the test part at ∞) made the far tails that Holm reads, and
every test at two seeds, liberal. The CI is estimate ± t·se, so it excludes 0 exactly when p < α.
A trained arm with fewer than MIN_SEEDS seeds gives no test at all (its seed variance has < 2
degrees of freedom): no p, CI or MDE, and the reason. The minimum detectable effect is the true
Δ this t-test detects with 80 % power (`cxrbench.stats.power`). One arm's CI (not a test) keeps
Welch–Satterthwaite: its test part, a model's whole test error, is large and well estimated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit

from cxrbench.stats._record import Record
from cxrbench.stats.bootstrap import jackknife_aurocs, prepare
from cxrbench.stats.errors import StatsError
from cxrbench.stats.power import ALPHA, POWER, detectable_effect, reported_mde

#: a trained arm needs this many seeds for any test (its seed variance then has ≥ 2 degrees of freedom)
MIN_SEEDS = 3
#: and this many for per-label tests with Holm flags (Holm's smallest thresholds read the far tail of
#: a t with S − 1 degrees of freedom; docs/stats.md)
MIN_SEEDS_LABEL_TESTS = 5

#: one arm: its seed-mean AUROC with a CI (t quantile at Welch–Satterthwaite degrees of freedom)
METHOD = ("seed mean over classifier training seeds; variance = test-set error shared by all seeds "
          "(mean cross-seed covariance of the patient-clustered leave-one-patient-out jackknife) + spread over "
          "seeds / number of seeds; t-test with Welch–Satterthwaite degrees of freedom; CI = estimate ± t·se")
#: a difference of two arms: the reported test
DELTA_METHOD = ("seed mean over classifier training seeds; variance = test-set error shared by all seeds "
                "(mean cross-seed covariance of the patient-clustered leave-one-patient-out jackknife) + spread "
                "over seeds / number of seeds; t-test at the seed spread's degrees of freedom (S − 1 paired, Welch "
                "unpaired; the test-set part adds none); CI = estimate ± t·se; MDE = the Δ detected with 80 % "
                "power by this test (noncentral t, σ estimated without bias)")


def too_few_seeds(n_seeds: int) -> str:
    """The one wording of why a comparison has no test."""
    return f"too few seeds ({n_seeds}); use ≥ {MIN_SEEDS}, ≥ {MIN_SEEDS_LABEL_TESTS} for per-label tests"


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


def design_mde(sd: float, dof: float, *, share_test: float = 0.0, alpha: float = ALPHA, power: float = POWER) -> float:
    """The true Δ that the reported t-test (`dof` degrees of freedom) detects with probability `power`
    when Δ̂ has standard deviation `sd`, `share_test` of its variance from the test set (`stats.power`)."""
    return detectable_effect(sd, share_test, dof, alpha=alpha, target=power)


def _jackknife_cov(pseudo: np.ndarray) -> np.ndarray:
    """(M, P) leave-one-patient-out values of M statistics → their (M, M) jackknife covariance."""
    n = pseudo.shape[1]
    dev = pseudo - pseudo.mean(axis=1, keepdims=True)
    return (n - 1) / n * dev @ dev.T


def _arm_parts(values: np.ndarray, cov: np.ndarray, *, fixed: bool = False
               ) -> tuple[float, float, float, str | None, float]:
    """(test part, seed part, seed dof, caveat, within) of Var(mean over seeds) for one set of per-seed values.

    Var(x̄) = c + (σ²_seed + v − c) / S: the test error shared by all seeds (c, the mean
    off-diagonal jackknife covariance) plus the spread over seeds divided by S (its expectation
    is σ²_seed + v − c: the seed-specific part of the test error is in it, and counted once).
    With one seed the model is held fixed: the whole jackknife variance, no seed part. `within`
    estimates v − c, the part of the spread over seeds that is test error, not training seed.
    """
    s = values.size
    if s < 2:
        caveat = ("one fixed model: it has no training-seed variance" if fixed else
                  "one seed: training-seed variance not estimated (the model is held fixed)")
        return float(cov.sum()), 0.0, np.inf, caveat, 0.0
    shared = float((cov.sum() - np.trace(cov)) / (s * (s - 1)))
    within = float((np.trace(cov) - cov.sum() / s) / (s - 1))
    return max(shared, 0.0), float(np.var(values, ddof=1)) / s, float(s - 1), None, within


def _dof(var_test: float, seed_parts: list[tuple[float, float]], *, seed_dof_only: bool) -> float:
    """Degrees of freedom of se²: Welch–Satterthwaite over the seed parts, the test part counted at ∞
    degrees of freedom unless `seed_dof_only` (a test of a difference: the test part adds none)."""
    if not seed_parts:
        return float("inf")  # fixed models only: the test set is the whole variance
    seed_var = sum(v for v, _ in seed_parts)
    if seed_var <= 0:
        return float(min(nu for _, nu in seed_parts))  # no spread at all: the fewest the seeds give
    total = seed_var if seed_dof_only else var_test + seed_var
    return float(total**2 / sum(v**2 / nu for v, nu in seed_parts if v > 0))


def _undefined(estimate: float, var_test: float, var_seed: float, per_seed, reason: str,
               within: float = 0.0, se: float = float("nan")) -> Estimate:
    nan = float("nan")
    return Estimate(float(estimate), se, float(var_test), float(var_seed), nan, nan, nan, float(within), nan, nan,
                    tuple(float(x) for x in per_seed), reason)


def _interval(estimate: float, var_test: float, seed_parts: list[tuple[float, float]], per_seed, *,
              confidence: float, reasons: list[str], within: float = 0.0) -> Estimate:
    """One arm's seed-mean AUROC with its CI (no test)."""
    var_seed = float(sum(v for v, _ in seed_parts))
    se = float(np.sqrt(max(var_test + var_seed, 0.0)))
    dof = _dof(var_test, seed_parts, seed_dof_only=False)
    half = _t_quantile(0.5 + confidence / 2, dof) * se
    nan = float("nan")
    return Estimate(float(estimate), se, float(var_test), var_seed, dof, float(estimate - half),
                    float(estimate + half), float(within), nan, nan, tuple(float(x) for x in per_seed),
                    "; ".join(reasons) or None)


def tested_difference(estimate: float, var_test: float, seed_parts: list[tuple[float, float]], per_seed=(), *,
                      confidence: float = 0.95, reasons: list[str] = (), within: float = 0.0,
                      no_test: str | None = None) -> Estimate:
    """A difference with its t-test, CI and MDE from its variance parts: `var_test` and the arms' seed parts
    ((variance, degrees of freedom) each); `no_test`: why none is reported (too few seeds)."""
    reasons = list(reasons)
    var_seed = float(sum(v for v, _ in seed_parts))
    var = var_test + var_seed
    if no_test is not None:  # the one reason that matters (per-arm caveats would only repeat it)
        return _undefined(estimate, var_test, var_seed, per_seed, no_test, within)
    if not var > 0:
        why = ("zero variance: the two arms' AUROCs agree on every seed and patient (identical predictions?); "
               "no test, MDE undefined" if estimate == 0 else "zero variance with a non-zero difference; no test")
        return _undefined(estimate, var_test, var_seed, per_seed, "; ".join([why, *reasons]), within, se=0.0)
    se = float(np.sqrt(var))
    dof = _dof(var_test, seed_parts, seed_dof_only=True)
    t = estimate / se
    p = float(2 * stdtr(dof, -abs(t))) if np.isfinite(dof) else float(2 * ndtr(-abs(t)))
    half = _t_quantile(0.5 + confidence / 2, dof) * se
    return Estimate(float(estimate), se, float(var_test), var_seed, dof, float(estimate - half),
                    float(estimate + half), float(within), p, reported_mde(se, var_test, dof),
                    tuple(float(x) for x in per_seed), "; ".join(reasons) or None)


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


def _check_stack(stack, y_shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(stack, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != tuple(y_shape):
        raise StatsError(f"{name}: shape {arr.shape} does not match (seeds, images, labels) = (S, {y_shape[0]}, "
                         f"{y_shape[1]}) of the labels' shape {tuple(y_shape)}")
    if arr.shape[0] < 1:
        raise StatsError(f"{name}: no seed (shape {arr.shape})")
    return arr


def _pseudo(y_true, stacks: dict[str, np.ndarray], patient_ids, names, eligible):
    """Full-set AUROCs (K, L), leave-one-patient-out AUROCs (K, L, P), the eligibility mask and the
    eligible labels whose AUROC or jackknife is undefined (name → reason)."""
    from cxrbench.stats._inputs import as_labels

    y, _ = as_labels(y_true)
    mask = np.asarray(eligible, dtype=bool)
    if mask.ndim != 1 or mask.shape[0] != y.shape[1]:
        raise StatsError(f"eligible: shape {mask.shape} does not match the labels' {y.shape[1]} column(s)")
    if not mask.any():
        raise StatsError("no eligible label: nothing to score (see the eval set's excluded labels)")
    score_list, score_names = [], []
    for arm, stack in stacks.items():
        stack = _check_stack(stack, y.shape, arm)
        score_list += list(stack)
        score_names += [f"{arm}[seed {k}]" for k in range(stack.shape[0])]
    prep = prepare(y, score_list, patient_ids, names, score_names=score_names)
    full, jk = jackknife_aurocs(prep)
    undefined = {}
    for j, (name, ok) in enumerate(zip(prep.names, mask)):
        if ok and not prep.defined[j]:
            undefined[name] = f"{name}: {prep.reasons[j]}"
        elif ok and not np.isfinite(jk[:, j]).all():
            undefined[name] = f"{name}: one patient holds every positive or every negative image (jackknife undefined)"
    return prep, full, jk, mask, undefined


def _macro_undefined(undefined: dict[str, str]) -> str:
    return f"macro undefined: eligible label(s) {sorted(undefined)} cannot be scored ({'; '.join(undefined.values())})"


def seed_mean(y_true, stack, patient_ids, *, labels: Sequence[str], eligible, confidence: float = 0.95
              ) -> SeedPatientResult:
    """Seed-mean macro and per-label AUROC of one arm ((S, N, L) scores), with CIs."""
    prep, full, jk, mask, undefined = _pseudo(y_true, {"stack": stack}, patient_ids, labels, eligible)
    s = full.shape[0]
    cols = [(n, [j]) for j, n in enumerate(prep.names) if mask[j]]
    out, means = {}, {}
    for name, idx in [("macro", list(np.flatnonzero(mask))), *cols]:
        per_seed = full[:, idx].mean(axis=1)
        means[name] = (float(per_seed.mean()), float("nan"))
        bad = undefined if name == "macro" else {k: v for k, v in undefined.items() if k == name}
        if bad:
            out[name] = _undefined(float("nan"), float("nan"), float("nan"), per_seed,
                                   _macro_undefined(bad) if name == "macro" else bad[name])
            continue
        var_test, v_seed, nu, reason, within = _arm_parts(per_seed, _jackknife_cov(jk[:, idx, :].mean(axis=1)))
        out[name] = _interval(float(per_seed.mean()), var_test, [(v_seed, nu)] if s > 1 else [], per_seed,
                              confidence=confidence, reasons=[reason] if reason else [], within=within)
    return SeedPatientResult(out.pop("macro"), out, tuple(n for n, _ in cols), prep.n_patients,
                             int(prep.y.shape[0]), s, 0, False, confidence, means)


def seed_mean_delta(y_true, stack_a, stack_b, patient_ids, *, labels: Sequence[str], eligible,
                    paired_seeds: bool, fixed_a: bool = False, fixed_b: bool = False,
                    confidence: float = 0.95) -> SeedPatientResult:
    """Δ = seed-mean AUROC of A − of B (macro over `eligible` labels, and per label), with CI and p.

    `stack_a`, `stack_b`: (S_A, N, L) and (S_B, N, L) scores on the same images, in the same row
    order (`cxrbench.stats.arms` aligns arms by image id and seed). `paired_seeds`: seed s of A and
    of B share their training seed (S_A = S_B required). `fixed_a` / `fixed_b`: that arm is one
    fixed model (a frozen classifier, S = 1), not a training recipe: it has no seed variance. A
    trained arm with fewer than MIN_SEEDS seeds gives no test (p, CI and MDE are NaN; `reason` says
    why), and so does a zero variance (identical predictions).
    """
    prep, full, jk, mask, undefined = _pseudo(y_true, {"stack_a": stack_a, "stack_b": stack_b}, patient_ids,
                                              labels, eligible)
    s_a = np.asarray(stack_a).shape[0]
    s_b = full.shape[0] - s_a
    if paired_seeds and s_a != s_b:
        raise StatsError(f"paired_seeds needs as many seeds for A as for B (have {s_a}, {s_b})")
    for arm, fixed, n in (("A", fixed_a, s_a), ("B", fixed_b, s_b)):
        if fixed and n != 1:
            raise StatsError(f"arm {arm} is a fixed model but has {n} sets of predictions (a fixed model has one)")
    if paired_seeds and (fixed_a or fixed_b):
        raise StatsError("a fixed model has no training seeds to pair")
    trained = [n for n, fixed in ((s_a, fixed_a), (s_b, fixed_b)) if not fixed]
    no_test = too_few_seeds(min(trained)) if trained and min(trained) < MIN_SEEDS else None
    cols = [(n, [j]) for j, n in enumerate(prep.names) if mask[j]]
    out, means = {}, {}
    for name, idx in [("macro", list(np.flatnonzero(mask))), *cols]:
        x = full[:, idx].mean(axis=1)
        pseudo = jk[:, idx, :].mean(axis=1)  # (S_A + S_B, P)
        xa, xb = x[:s_a], x[s_a:]
        means[name] = (float(xa.mean()), float(xb.mean()))
        bad = undefined if name == "macro" else {k: v for k, v in undefined.items() if k == name}
        if bad:
            out[name] = _undefined(float("nan"), float("nan"), float("nan"), x,
                                   _macro_undefined(bad) if name == "macro" else bad[name])
            continue
        reasons: list[str] = []
        if paired_seeds:
            d = xa - xb
            var_test, v, nu, reason, within = _arm_parts(d, _jackknife_cov(pseudo[:s_a] - pseudo[s_a:]))
            parts = [(v, nu)] if s_a > 1 else []
            reasons += [reason] if reason else []
            per_seed = d
            within /= s_a
        else:
            cov = _jackknife_cov(pseudo)
            # seeds of different arms are independent: only their shared test error covaries
            var_test = -2.0 * float(cov[:s_a, s_a:].mean())
            parts, within = [], 0.0
            for arm, vals, sl, fixed in (("A", xa, slice(0, s_a), fixed_a), ("B", xb, slice(s_a, None), fixed_b)):
                t, v, nu, reason, w = _arm_parts(vals, cov[sl, sl], fixed=fixed)
                var_test += t
                within += w / max(vals.size, 1)
                if vals.size > 1:
                    parts.append((v, nu))
                elif reason:
                    reasons.append(f"arm {arm}: {reason}")
            var_test = max(var_test, 0.0)
            per_seed = np.concatenate([xa, xb])
        out[name] = tested_difference(float(xa.mean() - xb.mean()), var_test, parts, per_seed, confidence=confidence,
                                      reasons=reasons, within=within, no_test=no_test)
    return SeedPatientResult(out.pop("macro"), out, tuple(n for n, _ in cols), prep.n_patients,
                             int(prep.y.shape[0]), s_a, s_b, bool(paired_seeds), confidence, means,
                             method=DELTA_METHOD)
