"""`cxrbench keys ...`: make an evaluator key, show its public half, trust a key in a leaderboard store."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

ORDER = 75
out = Console(soft_wrap=True)
keys_app = typer.Typer(help="Evaluator keys: held-out eval sets and signed records (docs/verification.md).",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


@keys_app.command("new")
def new(path: Path = typer.Argument(..., help="Where to write the key (a new file; never overwritten).")) -> None:
    """Make an evaluator key: 32 random bytes in a file only you can read (mode 600).

    Whoever holds it can draw the held-out eval sets and sign records; keep it off shared disks
    and out of every repository. Its public half (`cxrbench keys show`) is what a leaderboard trusts.

    Example:

      cxrbench keys new ~/.config/cxrbench/evaluator.key
    """
    from cxrbench.trust.keys import new_key

    key = new_key(path)
    out.print(f"wrote evaluator key {escape(str(path))} (mode 600); public fingerprint {key.fingerprint}")
    out.print(f"score on held-out sets: cxrbench evaluate SUBMISSION --evaluator-key {escape(str(path))}")


@keys_app.command("show")
def show(path: Path = typer.Argument(..., help="The evaluator key file."),
         name: str = typer.Option("", "--name", help="Who holds the key (shown on the leaderboard).")) -> None:
    """Print the key's public half as a trusted-keys entry (never the key itself).

    Send this to a leaderboard's maintainers; they add it with `cxrbench keys trust`.
    """
    from cxrbench.leaderboard.trusted_keys import TrustedKey
    from cxrbench.trust.keys import load_key

    key = load_key(path)
    entry = TrustedKey(name=name or key.fingerprint, public_key=key.public_key_b64, fingerprint=key.fingerprint)
    typer.echo(json.dumps(entry.model_dump(mode="json"), indent=2))


@keys_app.command("trust")
def trust(public_key: str = typer.Argument(..., help="The key's public half, base64 (`public_key` of `cxrbench keys show`)."),
          name: str = typer.Option(..., "--name", help="Who holds the key (shown on the leaderboard)."),
          results: Path = typer.Option(None, "--results", help="Store folder (default: the leaderboard's results/).")
          ) -> None:
    """Add a public key to a leaderboard store's trusted keys (then commit the file: trust is reviewed).

    Records signed by it and scored on held-out sets are then `verified`.
    """
    from cxrbench.leaderboard.store import default_results_dir
    from cxrbench.leaderboard.trusted_keys import add_trusted

    store = results or default_results_dir()
    entry, written = add_trusted(store, public_key, name)
    out.print(f"{escape(str(written))}: trusts {escape(entry.name)} ({entry.fingerprint})")
