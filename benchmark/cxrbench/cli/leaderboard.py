"""`cxrbench publish` and `cxrbench leaderboard`: add result records to the store, browse them."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

ORDER = 70


def publish_cmd(
    records: List[Path] = typer.Argument(..., help="Result record JSON files written by `cxrbench evaluate`, "
                                         "or folders to search for them (e.g. runs/)."),
    results: Optional[Path] = typer.Option(None, "--results", help="Store folder (default: the leaderboard's results/)."),
    no_compare: bool = typer.Option(False, "--no-compare", help="Skip the paired tests against other submissions."),
    evaluator_key: str = typer.Option(None, "--evaluator-key", envvar="CXRBENCH_EVALUATOR_KEY", show_envvar=True,
                                      help="Evaluator key whose held-out records are rescored here (their labels "
                                           "need it); without it a trusted signature vouches for them."),
    private_evals: Path = typer.Option(None, "--private-evals", help="The private eval sets those records were "
                                       "scored on (as given to `cxrbench evaluate`)."),
    arms_only: bool = typer.Option(False, "--arms-only", help="Only set the store's reference arms (baselines.json) "
                                   "from records signed by a trusted key, e.g. a signed rerun of an entry published "
                                   "unsigned; the records are not added."),
) -> None:
    """Validate result records and add them to the leaderboard's store (one JSON per record).

    Each published record is `verified` (signed by a key in the store's trusted_keys.json and
    scored on held-out sets) or `self-reported` (everything else); a record whose signature does
    not verify, or whose baseline arm is not the evaluator's, is refused (docs/verification.md).
    """
    from rich.console import Console
    from rich.markup import escape

    from cxrbench.errors import CxrbenchError
    from cxrbench.leaderboard.publish import publish
    from cxrbench.leaderboard.store import default_results_dir
    from cxrbench.trust.populations import population_from_options

    store = results or default_results_dir()
    files = expand_record_paths(records)
    held = ()
    if evaluator_key or private_evals:
        held = (population_from_options(evaluator_key, "held-out", private_evals),)
    report = publish(files, store, compare=not no_compare, populations=held, arms_only=arms_only)
    out = Console(soft_wrap=True)  # long store paths stay on one line
    for path in report.published:
        standing = report.standings[path]
        colour = "green" if standing.standing == "verified" else "yellow"
        out.print(f"[green]published[/] {escape(str(path))}: [{colour}]{standing.standing}[/] "
                  f"({escape(standing.reason)})")
    for note in report.notes:
        out.print(f"[yellow]note:[/] {escape(note)}")
    for src, reason in report.rejected:
        out.print(f"[bold red]rejected[/] {escape(str(src))}: {escape(reason)}")
    if report.rejected:
        raise CxrbenchError(f"{len(report.rejected)} of {len(files)} record(s) rejected (see above)")


def expand_record_paths(paths: List[Path]) -> List[Path]:
    """Files as given; folders replaced by the record files below them (sorted)."""
    from cxrbench.errors import CxrbenchError
    from cxrbench.leaderboard.store import record_files

    out: List[Path] = []
    for path in paths:
        if path.is_dir():
            found = record_files(path)
            if not found:
                raise CxrbenchError(f"{path}: no result record (*.json) found in this folder")
            out.extend(found)
        else:
            out.append(path)
    return out


leaderboard_app = typer.Typer(help="The leaderboard: `cxrbench leaderboard` serves it; `export` writes its tables.")


@leaderboard_app.callback(invoke_without_command=True)
def leaderboard_cmd(
    ctx: typer.Context,
    results: Optional[Path] = typer.Option(None, "--results", help="Store folder (default: the leaderboard's results/)."),
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (default: a free one)."),
    address: str = typer.Option("127.0.0.1", "--address", help="Address to listen on."),
) -> None:
    """Launch the Streamlit leaderboard on the published records (Ctrl-C or SIGTERM stops it)."""
    if ctx.invoked_subcommand is not None:
        return
    from cxrbench.leaderboard import serve
    from cxrbench.leaderboard.store import default_results_dir

    store = (results or default_results_dir()).resolve()
    port = port or serve.free_port()
    typer.echo(f"leaderboard on http://{address}:{port}  (records: {store}; Ctrl-C stops it)")
    raise typer.Exit(serve.run(store, address, port))


@leaderboard_app.command("export")
def export_cmd(
    folder: Optional[Path] = typer.Argument(None, help="Records to tabulate: a store or a runs folder (default: the "
                                            "leaderboard's results/)."),
    markdown: bool = typer.Option(False, "--markdown", help="Markdown tables (the only format so far)."),
    population: str = typer.Option("dev", "--population", help="Whose eval sets: dev, or held-out:<key fingerprint> "
                                   "(the records of one population, never two mixed)."),
) -> None:
    """Print the records' tables: one row per complete record (primary Δ with CI, p, MDE, verdict,
    external sites), the submission-vs-submission comparisons and the generator audits.

    Example: cxrbench leaderboard export --markdown > results.md
    """
    from cxrbench.errors import ConfigError
    from cxrbench.leaderboard.markdown import results_markdown
    from cxrbench.leaderboard.store import default_results_dir

    if not markdown:
        raise ConfigError("choose a format: --markdown")
    typer.echo(results_markdown(folder or default_results_dir(), population), nl=False)


def register(app: typer.Typer) -> None:
    app.command("publish")(publish_cmd)
    app.add_typer(leaderboard_app, name="leaderboard")
