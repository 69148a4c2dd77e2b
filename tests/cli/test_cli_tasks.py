"""`cxrbench tasks ls` as a user sees it."""

from typer.testing import CliRunner

from cxrbench.cli import app
from cxrbench.tasking import load_tasks


def test_ls_cuts_no_data_reference_at_140_columns():
    out = CliRunner().invoke(app, ["tasks", "ls"], env={"COLUMNS": "140"})
    assert out.exit_code == 0, out.output
    assert "…" not in out.output
    lines = out.output.splitlines()
    assert max(len(line) for line in lines) <= 140
    for spec in load_tasks().values():
        row = next(line for line in lines if line.split() and line.split()[0] == spec.name)
        for ref in (spec.real_train, spec.conditions_from):
            if ref is not None:
                assert f" {ref.key} " in row, (spec.name, row)


def test_ls_never_cuts_even_when_narrow():
    out = CliRunner().invoke(app, ["tasks", "ls", "--data", "phantom"], env={"COLUMNS": "80"})
    assert out.exit_code == 0 and "…" not in out.output
    assert "phantom/supplement-1000" in out.output  # task names never wrap
