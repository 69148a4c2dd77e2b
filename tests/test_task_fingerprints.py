"""The committed per-task slice fingerprints are what the current data code produces.

If this fails, the phantom's population or the split code changed the data of a shipped task:
bump the task's version and rerun `python scripts/make_task_fingerprints.py phantom`.
"""

import json
import subprocess
import sys
from pathlib import Path

from cxrbench.results import read_record
from cxrbench.tasking import get_task, split_fingerprints

REPO = Path(__file__).resolve().parents[1]


def test_committed_task_fingerprints_are_current():
    sys.path.insert(0, str(REPO / "scripts"))
    from make_task_fingerprints import build

    committed = json.loads((REPO / "tasks" / "phantom.fingerprints.json").read_text())
    assert build("phantom") == committed


def test_publish_hook_returns_them_and_published_records_match():
    spec = get_task("phantom/supplement-100")
    fps = split_fingerprints(spec, "quick")
    assert set(fps) == {"internal_test", "external:site-b", "external:site-c", "val", "real_train"}
    for path in (REPO / "leaderboard" / "results").rglob("*.json"):
        if path.name == "pairwise.json":
            continue
        record = read_record(path)
        want = split_fingerprints(get_task(record.task.name), record.task.budget)
        assert {k: record.split_fingerprints[k] for k in want} == want, path
