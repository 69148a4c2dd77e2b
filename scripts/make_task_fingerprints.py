"""Write tasks/cxrbench/tasks/<profile>.fingerprints.json: the slice fingerprints every record must carry.

    python scripts/make_task_fingerprints.py phantom
    CXRBENCH_CHEXPERT_ROOT=/data/chexpert python scripts/make_task_fingerprints.py chexpert

For chexpert a root holding only `CheXpert-v1.0-small/train.csv(.gz)` is enough (the committed
file was made from the real train.csv in ../shared/data/metadata). The mimic profile has none:
no MIMIC metadata was available; `cxrbench publish` then checks everything but the fingerprints.

Only ids enter a fingerprint (sorted patient/image pairs of each slice), so this needs no pixels.
tests/test_task_fingerprints.py recomputes the file; a change means the task's data changed and
its version must be bumped.
"""

import json
import sys
from pathlib import Path

from cxrbench.runner.datasets import task_split_fingerprints
from cxrbench.tasking import load_tasks


def build(profile: str) -> dict:
    tasks: dict = {}
    for spec in load_tasks().values():
        if spec.profile != profile:
            continue
        for budget in spec.budgets:
            tasks.setdefault(budget, {})[spec.name] = {
                "version": spec.version, "spec_sha256": spec.sha256(),
                "fingerprints": task_split_fingerprints(spec, budget)}
    return {"profile": profile, "made_by": "scripts/make_task_fingerprints.py", "tasks": tasks}


if __name__ == "__main__":
    profile = sys.argv[1] if len(sys.argv) > 1 else "phantom"
    out = Path(__file__).resolve().parents[1] / "tasks" / "cxrbench" / "tasks" / f"{profile}.fingerprints.json"
    out.write_text(json.dumps(build(profile), indent=1, sort_keys=True) + "\n")
    print(out)
