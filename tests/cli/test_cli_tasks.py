"""`cxrbench tasks ls` as a user sees it."""

from typer.testing import CliRunner

from cxrbench.cli import app
from cxrbench.tasking import load_tasks


def _row(lines: list[str], task: str) -> str:
    return next(line for line in lines if line.split() and line.split()[0] == task)


def test_ls_fits_80_columns_with_label_sets_and_timeouts():
    """A pipe or a log is 80 columns: every task on one line with its version, label set and quick timeouts."""
    out = CliRunner().invoke(app, ["tasks", "ls"], env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert "…" not in out.output and max(len(line) for line in lines) <= 80
    for spec in load_tasks().values():
        row = _row(lines, spec.name)
        assert row.split()[1:3] == [str(spec.version), spec.label_set], row  # the label set, as the docs say
        b = spec.budgets["quick"]
        if spec.uses_generator or spec.family == "real_only":  # the timeouts, as the docs say
            assert f"quick {b.generator_timeout_s}/{b.classifier_timeout_s}" in row, row


def test_ls_wide_cuts_no_data_reference():
    out = CliRunner().invoke(app, ["tasks", "ls", "--wide"], env={"COLUMNS": "140"})
    assert out.exit_code == 0, out.output
    assert "…" not in out.output
    assert max(len(line) for line in out.output.splitlines()) <= 140
    wide = CliRunner().invoke(app, ["tasks", "ls", "--wide"], env={"COLUMNS": "240"}).output.splitlines()
    for spec in load_tasks().values():
        row = _row(wide, spec.name)
        for ref in (spec.real_train, spec.conditions_from):
            if ref is not None:
                assert f" {ref.key} " in row, (spec.name, row)
        assert f"{spec.label_set} ({len(spec.labels)})" in row


def test_show_lists_the_labels_and_timeouts():
    out = CliRunner().invoke(app, ["tasks", "show", "phantom/classify-competition5"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert ("labels (competition5, 5): Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion"
            in out.output)
    assert "timeouts quick: generator 1800 s, classifier 600 s, memory 16 GB" in out.output


def test_ls_never_cuts_even_when_narrow():
    out = CliRunner().invoke(app, ["tasks", "ls", "--data", "phantom"], env={"COLUMNS": "80"})
    assert out.exit_code == 0 and "…" not in out.output
    assert "phantom/supplement-1000" in out.output  # task names never wrap
