"""`--budget` names the budget; `--profile`, its old name, still works for a release and warns."""

import pytest
from test_cli_main import run_main

from cxrbench.cli._budget import resolve_budget
from cxrbench.errors import ConfigError


def test_budget_defaults_to_quick_and_takes_the_flag():
    assert resolve_budget(None, None) == "quick"
    assert resolve_budget("standard", None) == "standard"


def test_profile_is_a_deprecated_alias(capsys):
    assert resolve_budget(None, "standard") == "standard"
    assert "--profile is deprecated" in capsys.readouterr().err


def test_budget_and_profile_that_disagree_are_refused():
    with pytest.raises(ConfigError, match="--budget quick and --profile standard disagree"):
        resolve_budget("quick", "standard")


def test_evaluate_warns_on_profile_then_runs_with_that_budget(tmp_path, monkeypatch, capsys):
    code, err = run_main(monkeypatch, capsys, "tasks", "requests", "phantom/supplement-100", "--out",
                         str(tmp_path / "out"), "--profile", "no-such-budget", "--cache", str(tmp_path / "cache"))
    assert code == 2 and "--profile is deprecated" in err
    assert "no-such-budget" in err  # the alias's value reached the task as its budget
