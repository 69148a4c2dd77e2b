"""The design MDE of a budget: the smallest Δ its primary endpoint detects, before anything runs.

A record's own MDE comes from its measured variance (`seed_patient`). To size a budget, the
same variance is written as measured components scaled to another design (P test patients,
S training seeds), as the seed × patient model of `seed_patient` gives it:

    Var(Δ̂) = c·P₀/P + (σ²_seed + w·P₀/P) / S,   tested at S − 1 degrees of freedom

with c the test error shared by all seeds and w its seed-specific part, both measured at P₀
patients (test-set variances scale as 1/P), and σ²_seed the variance of a per-seed Δ between
training seeds. The design MDE is the true Δ that the reported t-test detects with 80 % power
at these components (`cxrbench.stats.power`: the noncentral t when the seed part is all). `docs/experiments/phantom_calibration.py analyse` measures them on the phantom and writes
`tasks/cxrbench/tasks/<profile>.variance.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrbench.stats._record import Record
from cxrbench.stats.seed_patient import MIN_SEEDS, design_mde


@dataclass(frozen=True)
class VarianceComponents(Record):
    """Measured variance components of a primary Δ (per-seed scale), at `patients` test patients."""

    recipe: str
    design: str
    patients: int
    shared_test_var: float  # c
    within_var: float  # w = v − c
    seed_var: float  # σ²_seed

    def se_dof(self, n_patients: int, n_seeds: int) -> tuple[float, float, float]:
        """(sd of Δ̂, degrees of freedom of its test, share of its variance from the test set) at P, S."""
        scale = self.patients / n_patients
        seed_part = (self.seed_var + self.within_var * scale) / n_seeds
        var = self.shared_test_var * scale + seed_part
        dof = float(n_seeds - 1) if n_seeds > 1 else float("nan")
        return float(np.sqrt(var)), dof, float(self.shared_test_var * scale / var) if var > 0 else 0.0

    def mde(self, n_patients: int, n_seeds: int) -> float:
        """The design MDE (80% power, α = 0.05, two-sided) at P patients and S seeds (NaN below MIN_SEEDS)."""
        if n_seeds < MIN_SEEDS:
            return float("nan")
        sd, dof, share = self.se_dof(n_patients, n_seeds)
        return design_mde(sd, dof, share_test=share)


def load_components(path: Path) -> dict[str, VarianceComponents]:
    """Budget name → components, from a `<profile>.variance.json` file (missing budgets: absent)."""
    raw = json.loads(Path(path).read_text())
    return {budget: VarianceComponents(**entry) for budget, entry in raw.get("budgets", {}).items()}
