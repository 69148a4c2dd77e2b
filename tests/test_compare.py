"""`cxrbench compare` refuses records that are not comparable, naming the difference."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "leaderboard"))
from leaderboard_fixtures import make_record  # noqa: E402

from cxrbench.compare import compare_records  # noqa: E402
from cxrbench.errors import CxrbenchError  # noqa: E402


def test_different_seed_lists_are_refused(tmp_path):
    a = make_record("phantom/supplement-100", "phantom-oracle", n_seeds=3)
    b = make_record("phantom/supplement-100", "noise", n_seeds=2)
    with pytest.raises(CxrbenchError, match=r"different classifier seeds .*\[0, 1, 2\].*\[0, 1\]"):
        compare_records(a, b, tmp_path, tmp_path)


def test_different_eligible_labels_are_refused(tmp_path):
    a = make_record("phantom/supplement-100", "phantom-oracle")
    b = make_record("phantom/supplement-100", "noise")
    b.eval_sets[0].macro_labels = b.eval_sets[0].macro_labels[:-1]
    with pytest.raises(CxrbenchError, match="different eligible labels"):
        compare_records(a, b, tmp_path, tmp_path)


def test_different_task_versions_are_refused(tmp_path):
    a = make_record("phantom/supplement-100", "phantom-oracle")
    b = make_record("phantom/supplement-100", "noise")
    b.task.version += 1
    with pytest.raises(CxrbenchError, match="different tasks"):
        compare_records(a, b, tmp_path, tmp_path)
