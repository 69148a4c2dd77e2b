"""A submission's declared training population against a task's own real rows: the record's
`training_population`, `real_patients`, `task_real_patients` and `data_group` (schema 5).

The runner fills them when it writes a record and `cxrbench publish` recomputes them, so a group
cannot be edited into a record.
"""

from __future__ import annotations

from cxrbench.errors import CxrbenchError
from cxrbench.tasking import Budget, DataRef, TaskSpec
from cxrbench.training_population import TrainingSource, check_declared, population_group


def own_rows(task: TaskSpec, kind: str) -> DataRef | None:
    """The real rows a submission of `kind` may learn from on `task` (DESIGN.md): a generator the
    rows it is conditioned on, a classifier the real training split."""
    return task.conditions_from if kind == "generator" else task.real_train


def allowed_keys(task: TaskSpec, kind: str) -> list[str]:
    ref = own_rows(task, kind)
    return [ref.key] if ref is not None else []


def task_patients(task: TaskSpec, kind: str, budget: Budget | None) -> int | None:
    """Patients in the task's own real rows at this budget; None where they cannot be read."""
    from cxrbench.runner.datasets import real_rows

    ref = own_rows(task, kind)
    if ref is None or budget is None:
        return None
    try:
        return int(real_rows(ref, budget, max_images=budget.max_train_images)[1]["patient_id"].nunique())
    except CxrbenchError:
        return None


def population_fields(keys: list[str], declared: list[TrainingSource], kind: str, task: TaskSpec,
                      budget: Budget | None) -> dict:
    """The record's population fields for a submission declaring `keys` (with counts: `declared`)."""
    patients = task_patients(task, kind, budget)
    return dict(training_population=list(declared),
                real_patients=sum(d.patients for d in declared) if declared else None,
                task_real_patients=patients,
                data_group=population_group(declared, keys, allowed_keys(task, kind), patients))


def population_difference(record) -> str | None:
    """The first population field of a (schema ≥ 5) record that cxrbench computes otherwise, or None."""
    from cxrbench.tasking import get_task

    if record.schema_version < 5:
        return None
    s = record.submission
    for entry in s.training_population:
        if (why := check_declared(entry)) is not None:
            return f"submission.training_population: {why}"
    task = get_task(record.task.name)
    expected = population_fields(s.declared_training_data, s.training_population, s.kind, task,
                                 task.budgets.get(record.task.budget))
    for name, value in expected.items():
        if getattr(s, name) != value:
            return f"submission.{name} is {getattr(s, name)!r}, cxrbench computes {value!r}"
    return None
