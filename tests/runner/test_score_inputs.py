"""`publish` recomputes every number of a record from its predictions and the task's labels."""

from __future__ import annotations

import json

import pytest

from cxrbench.leaderboard.publish import publish
from cxrbench.results import ResultRecord, write_record
from cxrbench.runner.evaluate import evaluate
from cxrbench.runner.score_inputs import first_difference

ORACLE = "from cxrbench.data.phantom import render\nclass Gen:\n    def generate(self, c, s, size):\n        return render(c, s, size)\n"


@pytest.fixture
def evaluated(tiny_tasks, run_opts, tmp_path):
    root = tmp_path / "oracle"
    root.mkdir()
    (root / "submission.yaml").write_text('name: oracle\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n'
                                          'training_data: [{data: phantom/site-a/train, patients: 712, population: 1000}]\n')
    (root / "gen.py").write_text(ORACLE)
    run_opts.seeds = [0, 1]
    out = evaluate(root, ["tiny/supplement-100"], run_opts)[0]
    assert out.record.status == "complete", out.record.errors
    return out.path


def _forge(path, tmp_path, name, edit) -> object:
    """Copy a record and its predictions, edit the record, reseal it (as anyone can)."""
    folder = tmp_path / name / path.parent.name
    folder.mkdir(parents=True)
    rec = ResultRecord.model_validate(json.loads(path.read_text()))
    (folder / rec.predictions_file).write_bytes((path.parent / rec.predictions_file).read_bytes())
    edit(rec)
    return write_record(rec, folder / path.name)


FORGERIES = [
    (lambda r: setattr(r.eval_sets[0], "macro_auroc", 0.95), "eval_sets[internal_test].macro_auroc"),
    (lambda r: setattr(r.comparisons[0], "delta", 0.2), "comparisons[internal_test].delta"),
    (lambda r: setattr(r.comparisons[0], "p_value", 1e-4), "comparisons[internal_test].p_value"),
    (lambda r: setattr(r.comparisons[0], "mde", 0.001), "comparisons[internal_test].mde"),
    (lambda r: setattr(r.comparisons[0].labels[-1], "p_holm", 0.001), "comparisons[internal_test].labels["),
    (lambda r: setattr(r.eval_sets[1].labels[0], "ci_high", 0.99), "eval_sets[external:site-b].labels["),
    (lambda r: setattr(r.subgroups[0], "macro_auroc", 0.9), "subgroups[internal_test/"),
    (lambda r: setattr(r.subgroup_summaries[0], "largest_gap", 0.77), "subgroup_summaries["),
]


def test_genuine_record_publishes_and_forged_numbers_are_refused(evaluated, tmp_path):
    """One evaluation (it is the slow part); each forgery is a resealed copy with one number edited."""
    report = publish([evaluated], tmp_path / "store", compare=False)
    assert report.ok, report.rejected
    for i, (edit, field) in enumerate(FORGERIES):
        forged = _forge(evaluated, tmp_path, f"forged{i}", edit)
        report = publish([forged], tmp_path / f"store{i}", compare=False)
        assert not report.ok, field
        reason = report.rejected[0][1]
        assert "numbers do not follow from the record's predictions" in reason and field in reason, reason
    forged = _forge(evaluated, tmp_path, "kind", lambda r: setattr(r.submission, "kind", "classifier"))
    report = publish([forged], tmp_path / "store-kind", compare=False)
    assert not report.ok and "does not fit the task" in report.rejected[0][1]


def test_first_difference_names_paths():
    assert first_difference({"a": [1.0, {"label": "x", "p": 0.5}]}, {"a": [1.0, {"label": "x", "p": 0.5 + 1e-12}]}) is None
    assert first_difference({"a": [{"label": "x", "p": 0.5}]}, {"a": [{"label": "x", "p": 0.6}]}, "r") == \
        "r.a[x].p: record 0.5, recomputed 0.6"
    assert "2 entries" in first_difference([1, 2], [1])
    assert first_difference({"s": True}, {"s": False}) == ".s: record True, recomputed False"


def test_predictions_are_matched_by_image_id_not_row_order(evaluated):
    """A shuffled predictions table gives the record's numbers; a repeated image id is named."""
    import pandas as pd

    from cxrbench.results import RecordError, read_record
    from cxrbench.runner.score_inputs import verify_numbers

    rec = read_record(evaluated)
    table = pd.read_parquet(evaluated.parent / rec.predictions_file)
    assert verify_numbers(rec, table.sample(frac=1.0, random_state=0)) is None
    repeated = pd.concat([table, table.iloc[:1]])
    with pytest.raises(RecordError, match=r"image id '.*' appears twice"):
        verify_numbers(rec, repeated)
