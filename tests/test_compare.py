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


def test_shipped_records_without_predictions_name_the_command_that_regenerates_them():
    """Published records ship without predictions: compare says the one command to run first."""
    from cxrbench.results import RecordError, read_record

    root = Path(__file__).resolve().parents[1] / "leaderboard" / "cxrbench" / "leaderboard" / "results"
    files = [root / "phantom/quick/supplement-100@5/noise@1.json", root / "phantom/quick/supplement-100@5/phantom-oracle@1.json"]
    if any((f.parent / read_record(f).predictions_file).exists() for f in files):
        pytest.skip("predictions regenerated beside the shipped records")
    a, b = (read_record(f) for f in files)
    with pytest.raises(RecordError, match=r"regenerate them first: cxrbench reproduce .*noise@1\.json .*phantom-oracle@1\.json"):
        compare_records(a, b, files[0].parent, files[1].parent, files=tuple(files))
