"""`--budget` (quick, standard), shared by every command that runs a task, and `--profile`, its
deprecated name: the flag always meant the budget, while `--data` and a task's `profile` mean the
data profile. `--profile` still works for one release and prints a warning."""

from __future__ import annotations

import typer
from rich.console import Console

from cxrbench.errors import ConfigError

DEFAULT_BUDGET = "quick"
_err = Console(stderr=True, soft_wrap=True)


def budget_option(help: str = "Budget: `quick` (CPU, minutes) or `standard` (GPU).") -> typer.models.OptionInfo:
    return typer.Option(None, "--budget", "-b", help=f"{help} Default: {DEFAULT_BUDGET}.")


def deprecated_profile_option() -> typer.models.OptionInfo:
    return typer.Option(None, "--profile", "-p", hidden=True, help="Deprecated name of --budget.")


def resolve_budget(budget: str | None, profile: str | None) -> str:
    """The budget the user asked for, through `--budget` or the deprecated `--profile`."""
    if profile is None:
        return budget or DEFAULT_BUDGET
    _err.print("[yellow]warning:[/] --profile is deprecated and will be removed in the next release: it names the "
               "budget, so use --budget (the data profile is --data)")
    if budget is not None and budget != profile:
        raise ConfigError(f"--budget {budget} and --profile {profile} disagree; --profile is the old name of --budget")
    return profile
