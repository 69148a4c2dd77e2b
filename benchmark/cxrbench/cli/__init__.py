"""The `cxrbench` command.

Each area keeps its commands in its own module here (`data.py`, `generator.py`, ...) with a
`register(app)` function and an `ORDER` number (position in --help); this file only discovers
and assembles them, and turns CxrbenchError into one clear line.
"""

from __future__ import annotations

import errno
import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperOption

from cxrbench.errors import CxrbenchError
from cxrbench.version import __version__

app = typer.Typer(
    name="cxrbench",
    help=(
        "Benchmark synthetic chest X-rays by what they do for pathology classifiers.\n\n"
        "Start with `cxrbench evaluate submissions/phantom-oracle -t phantom/supplement-100` (the positive "
        "control on the embedded phantom: about 6 minutes on a 2-core CPU, `make demo`; the reference DDPM "
        "over all five quick tasks takes about an hour there), then read the result with `cxrbench "
        "leaderboard`. `cxrbench evaluate ... --dry-run` shows what a run would do. `cxrbench data preview "
        "phantom` shows what the embedded phantom looks like."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True, soft_wrap=True)

_option_type = TyperOption.display_type_rich


def _flag_without_placeholder(self: TyperOption, ctx) -> str | None:
    """A flag (`--force`, `--help`) takes no value, so its help line shows no `<bool>` placeholder.

    Typer's rich help prints the annotated type for every option, flags included; this is the one
    place that hook can be changed for every command, `--help` itself among them.
    """
    return None if self.is_flag else _option_type(self, ctx)


TyperOption.display_type_rich = _flag_without_placeholder


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cxrbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Benchmark synthetic chest X-rays by what they do for pathology classifiers."""


def _command_modules() -> list:
    import pkgutil

    mods = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)
            if not m.name.startswith("_")]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 50), m.__name__))


for _module in _command_modules():
    _module.register(app)


def main() -> None:
    """Console entry point: run the app, printing cxrbench errors as one red line (exit 2)."""
    try:
        # without standalone mode click returns a command's `typer.Exit(code)` instead of exiting
        code = app(standalone_mode=False)
    except CxrbenchError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")  # a message is text, never markup
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None) if isinstance(exc, typer.Exit) else exc.code
        sys.exit(code or 0)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # a full disk is the machine's problem, not a bug: one line, and what survives it
        where = f" writing {exc.filename}" if exc.filename else ""
        err.print(f"[bold red]error:[/] {escape(f'no space left on the device{where}: {exc.strerror or exc}')}; "
                  "free some space and run the same command again (finished runs are in the cache, "
                  "whose entries are written whole or not at all)")
        sys.exit(2)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
