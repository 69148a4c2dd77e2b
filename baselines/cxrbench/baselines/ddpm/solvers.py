"""The four samplers as one device-side linear step, with per-step coefficients precomputed.

For DDIM (η = 0), DDPM, DPM-Solver++(2M) and UniPC (B(h) = e^h − 1, order 2, with corrector),
every update is a linear combination of the current sample, the network output and a short
history, with coefficients that depend only on the schedule — never on the data. So the plan
computes them once, on the host in float64 from the diffusers scheduler's own schedule arrays
(the same formulas as diffusers' `step`), and the sampling loop applies them with a handful of
fused multiply-adds on the device: no scalar held on the host, no host→device copy and no host
sync per step. `tests/baselines/ddpm/test_sampling.py` checks every sampler against a plain
diffusers loop to 1e-5.

One step, for model input x (uncorrected), network output v, history (last, m1, m2) and noise z:

    m  = A·x − S·v                                   data prediction x̂₀ (v-prediction)
    xc = Cx·x + Clast·last + Cm1·m1 + Cm2·m2 + Cm·m  UniPC's corrector (xc = x elsewhere)
    x' = Pxc·xc + Pm·m + Pm1·m1 + Pv·v + Pz·z        the solver step (Pz: DDPM's noise)
    history ← (xc, m, m1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cxrbench.baselines.ddpm.presets import GeneratorConfig
from cxrbench.baselines.ddpm.schedules import sampler_scheduler
from cxrbench.errors import ConfigError

COLUMNS = ("A", "S", "Cx", "Clast", "Cm1", "Cm2", "Cm", "Pxc", "Pm", "Pm1", "Pv", "Pz")
_COL = {name: k for k, name in enumerate(COLUMNS)}


@dataclass(frozen=True)
class StepPlan:
    """What a sampler does at each of its steps: timesteps (n,) and coefficients (n, 12)."""

    sampler: str
    timesteps: np.ndarray
    coefficients: np.ndarray

    @property
    def active(self) -> frozenset[str]:
        """Columns that are non-zero at some step; the device step skips the others."""
        return frozenset(c for c, used in zip(COLUMNS, np.any(self.coefficients != 0, axis=0)) if used)

    @property
    def stochastic(self) -> bool:
        return "Pz" in self.active


def _rows(n: int) -> np.ndarray:
    rows = np.zeros((n, len(COLUMNS)))
    rows[:, _COL["Cx"]] = 1.0  # no corrector: xc = x
    rows[:, _COL["Pxc"]] = 1.0
    return rows


def _ddim(scheduler, timesteps: np.ndarray) -> np.ndarray:
    ac = scheduler.alphas_cumprod.double().numpy()
    stride = scheduler.config.num_train_timesteps // len(timesteps)
    final = float(scheduler.final_alpha_cumprod)
    rows = _rows(len(timesteps))
    for i, t in enumerate(timesteps):
        ab = ac[t]
        ab_prev = ac[t - stride] if t - stride >= 0 else final
        # x0 = √ab·x − √(1−ab)·v ; eps = √ab·v + √(1−ab)·x ; x' = √ab_prev·x0 + √(1−ab_prev)·eps
        rows[i, _COL["A"]], rows[i, _COL["S"]] = np.sqrt(ab), np.sqrt(1 - ab)
        rows[i, _COL["Pxc"]] = np.sqrt(1 - ab_prev) * np.sqrt(1 - ab)
        rows[i, _COL["Pm"]] = np.sqrt(ab_prev)
        rows[i, _COL["Pv"]] = np.sqrt(1 - ab_prev) * np.sqrt(ab)
    return rows


def _ddpm(scheduler, timesteps: np.ndarray) -> np.ndarray:
    if scheduler.config.variance_type != "fixed_small":
        raise ConfigError(f"ddpm sampler: variance_type {scheduler.config.variance_type!r} is not supported")
    ac = scheduler.alphas_cumprod.double().numpy()
    rows = _rows(len(timesteps))
    for i, t in enumerate(timesteps):
        prev = int(scheduler.previous_timestep(int(t)))
        ab = ac[t]
        ab_prev = ac[prev] if prev >= 0 else 1.0
        alpha_t = ab / ab_prev
        beta_t = 1 - alpha_t
        rows[i, _COL["A"]], rows[i, _COL["S"]] = np.sqrt(ab), np.sqrt(1 - ab)
        rows[i, _COL["Pm"]] = np.sqrt(ab_prev) * beta_t / (1 - ab)
        rows[i, _COL["Pxc"]] = np.sqrt(alpha_t) * (1 - ab_prev) / (1 - ab)
        if t > 0:  # posterior variance, clamped as diffusers does
            rows[i, _COL["Pz"]] = np.sqrt(max((1 - ab_prev) / (1 - ab) * beta_t, 1e-20))
    return rows


def _alpha_sigma_lambda(scheduler) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sigma alpha_t, sigma_t and log-SNR lambda_t (lambda = +inf at the final sigma 0)."""
    s = scheduler.sigmas.double().numpy()
    alpha = 1 / np.sqrt(s**2 + 1)
    sigma = s * alpha
    with np.errstate(divide="ignore"):
        lam = np.log(alpha) - np.log(sigma)
    return alpha, sigma, lam


def _dpmpp_2m(scheduler, timesteps: np.ndarray) -> np.ndarray:
    alpha, sigma, lam = _alpha_sigma_lambda(scheduler)
    n = len(timesteps)
    rows = _rows(n)
    for i in range(n):
        rows[i, _COL["A"]], rows[i, _COL["S"]] = alpha[i], sigma[i]
        h = lam[i + 1] - lam[i]
        a = alpha[i + 1] * (np.exp(-h) - 1)
        rows[i, _COL["Pxc"]] = sigma[i + 1] / sigma[i]
        if i == 0 or i == n - 1:  # first order: warm-up, and the final step to sigma 0
            rows[i, _COL["Pm"]] = -a
        else:  # second-order midpoint: D1 = (m0 − m1) / r0
            r0 = (lam[i] - lam[i - 1]) / h
            rows[i, _COL["Pm"]] = -a - 0.5 * a / r0
            rows[i, _COL["Pm1"]] = 0.5 * a / r0
    return rows


def _unipc_b(h: float, order: int) -> np.ndarray:
    """UniPC's right-hand side b (bh2, data prediction) for orders 1..order."""
    hh = -h
    h_phi_k = np.expm1(hh) / hh - 1
    b_h = np.expm1(hh)
    factorial, out = 1, []
    for k in range(1, order + 1):
        out.append(h_phi_k * factorial / b_h)
        factorial *= k + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return np.array(out)


def _unipc(scheduler, timesteps: np.ndarray) -> np.ndarray:
    cfg = scheduler.config
    if (cfg.solver_type, cfg.solver_order, scheduler.predict_x0) != ("bh2", 2, True) or scheduler.disable_corrector:
        raise ConfigError("unipc sampler: only solver_type bh2, order 2, data prediction, corrector on is supported")
    alpha, sigma, lam = _alpha_sigma_lambda(scheduler)
    n = len(timesteps)
    order = [min(min(2, n - i), min(i, 2) + 1) for i in range(n)]  # warm-up and lower_order_final
    rows = _rows(n)
    for i in range(n):
        rows[i, _COL["A"]], rows[i, _COL["S"]] = alpha[i], sigma[i]
        if i > 0:  # corrector of x_i from the previous step (s0 = i−1), using m_i
            h = lam[i] - lam[i - 1]
            ratio, a_phi, a_b = sigma[i] / sigma[i - 1], alpha[i] * np.expm1(-h), alpha[i] * np.expm1(-h)
            rows[i, _COL["Cx"]], rows[i, _COL["Clast"]] = 0.0, ratio
            if order[i - 1] == 1:
                rho = np.array([0.5])
                rows[i, _COL["Cm1"]] = -a_phi + a_b * rho[0]
                rows[i, _COL["Cm"]] = -a_b * rho[0]
            else:
                r1 = (lam[i - 2] - lam[i - 1]) / h
                rho = np.linalg.solve(np.array([[1.0, 1.0], [r1, 1.0]]), _unipc_b(h, 2))
                rows[i, _COL["Cm1"]] = -a_phi + a_b * (rho[0] / r1 + rho[1])
                rows[i, _COL["Cm2"]] = -a_b * rho[0] / r1
                rows[i, _COL["Cm"]] = -a_b * rho[1]
        h = lam[i + 1] - lam[i]
        ratio, a_phi = sigma[i + 1] / sigma[i], alpha[i + 1] * np.expm1(-h)
        rows[i, _COL["Pxc"]] = ratio
        if order[i] == 1:
            rows[i, _COL["Pm"]] = -a_phi
        else:  # D1 = (m1 − m) / rk, rho_p = 0.5
            rk = (lam[i - 1] - lam[i]) / h
            a_b = a_phi  # bh2: B(h) = e^{−h} − 1 = h·phi_1
            rows[i, _COL["Pm"]] = -a_phi + 0.5 * a_b / rk
            rows[i, _COL["Pm1"]] = -0.5 * a_b / rk
    return rows


_BUILDERS = {"ddim": _ddim, "ddpm": _ddpm, "dpmpp-2m": _dpmpp_2m, "unipc": _unipc}


def step_plan(sampler: str, config: GeneratorConfig, steps: int) -> StepPlan:
    """Timesteps and per-step coefficients of `sampler` at `steps` steps for `config`'s schedule."""
    scheduler = sampler_scheduler(sampler, config)
    scheduler.set_timesteps(steps, device="cpu")
    if float(scheduler.init_noise_sigma) != 1.0:
        raise ConfigError(f"sampler {sampler!r}: init_noise_sigma {scheduler.init_noise_sigma} != 1 is not supported")
    timesteps = scheduler.timesteps.numpy().astype(np.int64)
    if len(timesteps) != steps:
        raise ConfigError(f"sampler {sampler!r} gives {len(timesteps)} timesteps for steps={steps} on preset "
                          f"{config.preset!r}; choose another step count")
    coefficients = _BUILDERS[sampler](scheduler, timesteps)
    if not np.all(np.isfinite(coefficients)):
        raise ConfigError(f"sampler {sampler!r} at {steps} steps has non-finite coefficients on preset "
                          f"{config.preset!r}; choose another step count")
    return StepPlan(sampler, timesteps, coefficients)


def apply_step(active: frozenset[str], coef: torch.Tensor, x: torch.Tensor, v: torch.Tensor,
               history: tuple[torch.Tensor, torch.Tensor, torch.Tensor], noise: torch.Tensor | None
               ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One step on the device: `coef` is this step's row (12,) of device coefficients.

    `active` (static per plan) drops the terms a sampler never uses, so DDIM costs two
    multiply-adds, not twelve."""
    last, m1, m2 = history

    def combo(*terms):
        out = None
        for name, tensor in terms:
            if name in active:
                term = coef[_COL[name]] * tensor
                out = term if out is None else out + term
        return out

    m = coef[_COL["A"]] * x - coef[_COL["S"]] * v
    xc = combo(("Cx", x), ("Clast", last), ("Cm1", m1), ("Cm2", m2), ("Cm", m))
    x_next = combo(("Pxc", xc), ("Pm", m), ("Pm1", m1), ("Pv", v), ("Pz", noise))
    return x_next, (xc, m, m1)
