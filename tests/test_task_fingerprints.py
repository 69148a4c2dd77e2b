"""The committed per-task slice fingerprints are what the current data code produces.

If this fails, the phantom's population, its renderer (the `pixels` fingerprint) or the split code
changed the data of a shipped task: bump the task's version, rerun `cxrbench tasks fingerprint
phantom` and re-run the published records.
"""

import json
from pathlib import Path

from cxrbench.results import read_record
from cxrbench.tasking import get_task, split_fingerprints

REPO = Path(__file__).resolve().parents[1]


def test_committed_task_fingerprints_are_current():
    from cxrbench.runner.task_fingerprints import task_fingerprints

    committed = json.loads((REPO / "tasks" / "cxrbench" / "tasks" / "phantom.fingerprints.json").read_text())
    assert task_fingerprints("phantom") == committed


def test_publish_hook_returns_them_and_published_records_match():
    spec = get_task("phantom/supplement-100")
    fps = split_fingerprints(spec, "quick")
    assert set(fps) == {"internal_test", "external:site-b", "external:site-c", "val", "real_train", "pixels"}
    from cxrbench.leaderboard.store import record_files

    for path in record_files(REPO / "leaderboard" / "cxrbench" / "leaderboard" / "results"):  # records only
        record = read_record(path)
        spec = get_task(record.task.name)
        want = split_fingerprints(spec, record.task.budget)
        if record.evaluation.eval_sets == "held-out":  # its eval sets' fingerprints are keyed: the rest is public
            want = {k: v for k, v in want.items() if k not in spec.eval_sets}
        assert {k: record.split_fingerprints[k] for k in want} == want, path


def test_pixels_fingerprint_follows_the_phantom_renderer(monkeypatch):
    """Same rows, other renderer code: the task's `pixels` fingerprint changes, so `cxrbench publish`
    refuses records drawn by another renderer even though every row fingerprint agrees."""
    from cxrbench.data.phantom import source as phantom_source
    from cxrbench.runner import datasets

    spec = get_task("phantom/supplement-100")
    before = datasets.task_split_fingerprints(spec, "quick")
    assert before == split_fingerprints(spec, "quick")
    monkeypatch.setattr(phantom_source, "renderer_digest", lambda: "0" * 12)
    after = datasets.task_split_fingerprints(spec, "quick")
    assert after["pixels"] != before["pixels"]
    assert {k: v for k, v in after.items() if k != "pixels"} == {k: v for k, v in before.items() if k != "pixels"}
