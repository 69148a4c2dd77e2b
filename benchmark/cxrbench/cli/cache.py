"""`cxrbench cache ...`: what the cache holds, and freeing it safely."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

ORDER = 80
out = Console()
cache_app = typer.Typer(help="The cache: what it holds (du) and freeing space safely (gc).", no_args_is_help=True)
CACHE_OPTION = typer.Option(None, "--cache", help="Cache folder (default .cxrbench-cache or $CXRBENCH_CACHE).")


def _root(cache: Path | None) -> Path:
    from cxrbench.errors import ConfigError
    from cxrbench.runner.cache import default_root

    root = Path(cache).resolve() if cache else default_root()
    if not root.is_dir():
        raise ConfigError(f"cache {root}: no such folder")
    return root


@cache_app.command("du")
def du(cache: Path = CACHE_OPTION) -> None:
    """What each folder of the cache holds: entries, bytes, and what builders left (temporaries,
    moved-aside entries, leases, partial generations)."""
    from cxrbench.runner.cache_usage import usage
    from cxrbench.runner.storage import free_bytes, human

    root = _root(cache)
    areas = usage(root)
    table = Table(title=f"cache {escape(str(root))}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("folder", "entries", "size", "left by builders"):
        table.add_column(col, justify="left" if col == "folder" else "right")
    for a in areas:
        table.add_row(a.name, str(a.entries) if a.entries else "", human(a.bytes),
                      f"{a.leftovers} ({human(a.leftover_bytes)})" if a.leftovers else "")
    total = sum(a.bytes + a.leftover_bytes for a in areas)
    table.add_row("[bold]all[/]", str(sum(a.entries for a in areas)), f"[bold]{human(total)}[/]",
                  f"{human(free_bytes(root))} free on its filesystem")
    out.print(table)


@cache_app.command("gc")
def gc(
    cache: Path = CACHE_OPTION,
    keep_published: bool = typer.Option(False, "--keep-published", help="Remove every entry except those behind "
                                        "published records (--records), plus derived features and builders' leftovers."),
    records: list[Path] = typer.Option(None, "--records", help="Folder of published records (repeatable; default: "
                                       "the leaderboard's store, $CXRBENCH_RESULTS)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed; remove nothing."),
) -> None:
    """Free cache space safely: entries are renamed aside before they are deleted (readers see them
    whole or not at all), nothing under a live lease is touched, and decoded images stay.

    Without --keep-published only what is rebuilt on demand (the audit's feature cache) and the
    leftovers of builders that are gone are removed.
    """
    from cxrbench.runner.cache_usage import plan_gc, published_entries, remove
    from cxrbench.runner.storage import human

    root = _root(cache)
    if keep_published:
        if not records:
            from cxrbench.leaderboard.store import default_results_dir

            records = [default_results_dir()]
        files = [f for folder in records for f in Path(folder).rglob("*.json")]
        keep = published_entries(root, files)
        removals = plan_gc(root, keep)
    else:
        removals = plan_gc(root, keep=None)
    for r in removals:
        if not dry_run:
            remove(r)
        out.print(f"{'would remove' if dry_run else 'removed'} {escape(str(r.path))} ({human(r.bytes)}): {r.why}",
                  soft_wrap=True)
    freed = sum(r.bytes for r in removals)
    out.print(f"{'would free' if dry_run else 'freed'} {human(freed)} in {len(removals)} item(s)"
              + (f"; kept {len(keep)} entr(ies) behind published records" if keep_published else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
