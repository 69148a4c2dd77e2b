"""`tasks/cxrbench/tasks/<profile>.fingerprints.json`: the slice fingerprints every record of a
profile's tasks must carry (`cxrbench tasks fingerprint`; `cxrbench publish` checks records against it).

Only ids enter a fingerprint (sorted patient/image pairs of each slice; for generated sources the
renderer's provenance, `pixels`), so making it needs no pixels. tests/test_task_fingerprints.py
recomputes the phantom file: a change means a task's data changed and its version must be bumped.
"""

from __future__ import annotations

import json
from pathlib import Path

from cxrbench.runner.datasets import task_split_fingerprints
from cxrbench.tasking import load_tasks

MADE_BY = "cxrbench tasks fingerprint"


def task_fingerprints(profile: str) -> dict:
    """{profile, made_by, tasks: {budget: {task: {version, spec_sha256, fingerprints}}}} of every task of `profile`."""
    tasks: dict = {}
    for spec in load_tasks().values():
        if spec.profile != profile:
            continue
        for budget in spec.budgets:
            tasks.setdefault(budget, {})[spec.name] = {
                "version": spec.version, "spec_sha256": spec.sha256(),
                "fingerprints": task_split_fingerprints(spec, budget)}
    return {"profile": profile, "made_by": MADE_BY, "tasks": tasks}


def shipped_path(profile: str) -> Path:
    from cxrbench.tasks import tasks_dir

    return tasks_dir() / f"{profile}.fingerprints.json"


def to_json(table: dict) -> str:
    return json.dumps(table, indent=1, sort_keys=True) + "\n"
