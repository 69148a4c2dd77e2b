"""The design of a task's budget: test patients, seeds and the primary endpoint's design MDE.

Shown by `cxrbench tasks show`; the variance components come from the profile's measured
`tasks/cxrbench/tasks/<profile>.variance.json` for that budget, else from the phantom's `quick` components
(marked as extrapolated: a different recipe or dataset has its own seed variance).
"""

from __future__ import annotations

from dataclasses import dataclass

from cxrbench.errors import ConfigError
from cxrbench.tasking import TaskSpec

FALLBACK = ("phantom", "quick")


@dataclass
class BudgetDesign:
    budget: str
    test_patients: int | None
    seeds: int
    mde: float | None
    target_mde: float | None
    components_from: str | None  # "<profile>/<budget>" of the components used
    extrapolated: bool
    note: str | None = None

    @property
    def meets_target(self) -> bool | None:
        if self.mde is None or self.target_mde is None:
            return None
        return self.mde <= self.target_mde


def _components(profile: str, budget: str):
    from cxrbench.stats.design import load_components
    from cxrbench.tasks import tasks_dir

    for prof, bud in ((profile, budget), FALLBACK):
        path = tasks_dir() / f"{prof}.variance.json"
        if path.is_file():
            found = load_components(path).get(bud)
            if found is not None:
                return found, f"{prof}/{bud}", (prof, bud) != (profile, budget)
    return None, None, False


def budget_design(spec: TaskSpec, budget_name: str) -> BudgetDesign:
    """Test patients of the primary eval set at this budget, and the design MDE of the primary Δ."""
    from cxrbench.runner.datasets import real_rows

    b = spec.budget(budget_name)
    ref = spec.eval_sets[spec.primary.eval_set]
    note = None
    try:
        _, rows = real_rows(ref, b.for_eval_set(spec.primary.eval_set), max_images=b.max_eval_images)
        patients = int(rows["patient_id"].nunique())
    except ConfigError as exc:  # a credentialed dataset that is not configured here
        patients, note = None, str(exc)
    comps, source, extrapolated = _components(spec.profile, budget_name)
    mde = comps.mde(patients, len(b.seeds)) if comps is not None and patients else None
    return BudgetDesign(budget=budget_name, test_patients=patients, seeds=len(b.seeds), mde=mde,
                        target_mde=b.target_mde, components_from=source, extrapolated=extrapolated, note=note)
