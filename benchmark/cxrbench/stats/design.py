"""The design MDE of a budget: the smallest Δ its primary endpoint detects, before anything runs.

A record's own MDE comes from its measured variance (`seed_patient`). To size a budget, the
same variance is written as measured components scaled to another design (P test patients,
S training seeds), as the seed × patient model of `seed_patient` gives it:

    Var(Δ̂) = c·P₀/P + (σ²_seed + w·P₀/P) / S,   dof = S − 1 for the seed part (Satterthwaite)

with c the test error shared by all seeds and w its seed-specific part, both measured at P₀
patients (test-set variances scale as 1/P), and σ²_seed the variance of a per-seed Δ between
training seeds. `scripts/stats_calibration.py analyse` measures them on the phantom and writes
`tasks/cxrbench/tasks/<profile>.variance.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrbench.stats._record import Record
from cxrbench.stats.seed_patient import design_mde


@dataclass(frozen=True)
class VarianceComponents(Record):
    """Measured variance components of a primary Δ (per-seed scale), at `patients` test patients."""

    recipe: str
    design: str
    patients: int
    shared_test_var: float  # c
    within_var: float  # w = v − c
    seed_var: float  # σ²_seed

    def se_dof(self, n_patients: int, n_seeds: int) -> tuple[float, float]:
        scale = self.patients / n_patients
        seed_part = (self.seed_var + self.within_var * scale) / n_seeds
        var = self.shared_test_var * scale + seed_part
        dof = var**2 / (seed_part**2 / (n_seeds - 1)) if n_seeds > 1 and seed_part > 0 else float("inf")
        return float(np.sqrt(var)), float(dof)

    def mde(self, n_patients: int, n_seeds: int) -> float:
        """The design MDE (80% power, α = 0.05, two-sided) at P patients and S seeds."""
        return design_mde(*self.se_dof(n_patients, n_seeds))


def load_components(path: Path) -> dict[str, VarianceComponents]:
    """Budget name → components, from a `<profile>.variance.json` file (missing budgets: absent)."""
    raw = json.loads(Path(path).read_text())
    return {budget: VarianceComponents(**entry) for budget, entry in raw.get("budgets", {}).items()}
