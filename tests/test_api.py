"""The Python API: `cxrbench.api.evaluate` is the call the CLI makes, and docs/api.md's example runs."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]


def test_the_cli_makes_the_api_call(monkeypatch, tmp_path):
    """`cxrbench evaluate` builds its options with `run_options` and runs them with `cxrbench.api.run`."""
    import cxrbench.api as api
    from cxrbench.cli import app

    calls = []
    monkeypatch.setattr(api, "run", lambda submission, tasks, opts, console=None: calls.append((submission, tasks, opts)) or [])
    out = CliRunner().invoke(app, ["evaluate", "submissions/noise", "-t", "phantom/supplement-100", "--seeds", "2",
                                   "--out", str(tmp_path / "runs"), "--device", "cpu", "--limit", "20"])
    assert out.exit_code == 0, out.output
    (submission, tasks, opts), = calls
    expected = api.run_options(tasks=["phantom/supplement-100"], seeds=2, out=tmp_path / "runs", device="cpu", limit=20)
    assert tasks == ["phantom/supplement-100"] and opts == expected


def test_bad_options_are_one_line_errors():
    from cxrbench.api import evaluate
    from cxrbench.errors import ConfigError

    with pytest.raises(ConfigError, match="--executor 'slurm': choose one of"):
        evaluate("submissions/noise", executor="slurm", device="cpu")
    with pytest.raises(ConfigError, match="unknown task 'phantom/suplement-100'; did you mean"):
        evaluate("submissions/noise", ["phantom/suplement-100"], device="cpu")


@pytest.mark.slow  # an evaluation of 400 images a set: 6.4 min at load 25 on 2 cores (`make test-all`)
def test_docs_api_example_runs(monkeypatch):
    from cxrbench.submissions.bwrap import unavailable_reason

    if (why := unavailable_reason()) is not None:
        pytest.skip(f"the example runs a generator's code, which needs bubblewrap: {why}")
    monkeypatch.chdir(REPO)
    result = doctest.testfile(str(REPO / "docs" / "api.md"), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0
