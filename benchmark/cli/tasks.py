"""`cxrbench tasks ...`: list and inspect the versioned tasks; export what offline submissions need."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

ORDER = 5
out = Console()
tasks_app = typer.Typer(help="Tasks: list them, show one, export generation requests or eval images for offline submissions.",
                        no_args_is_help=True)


@tasks_app.command("ls")
def ls(profile: str = typer.Option(None, "--data", help="Only tasks of this data profile (phantom, chexpert, ...).")) -> None:
    """List every shipped task with its family, ratio, version, eval sets and budgets."""
    from cxrbench.tasking import load_tasks

    table = Table(title="cxrbench tasks")
    for col in ("task", "v", "family", "N%", "real train", "conditions from", "eval sets", "budgets"):
        table.add_column(col, no_wrap=col == "task")
    for spec in load_tasks().values():
        if profile and spec.profile != profile:
            continue
        table.add_row(spec.name, str(spec.version), spec.family, str(spec.supplement_ratio),
                      spec.real_train.key if spec.real_train else "—",
                      spec.conditions_from.key if spec.conditions_from else "—",
                      " ".join(n.replace("external:", "") for n in spec.eval_sets), " ".join(spec.budgets))
    out.print(table)


@tasks_app.command("show")
def show(name: str = typer.Argument(..., help="Task name, e.g. phantom/supplement-100")) -> None:
    """Print a task's full spec (YAML), its sha256, and the design of each budget.

    The design: test patients of the primary eval set, classifier seeds, and the minimum
    detectable effect (MDE, 80% power, α = 0.05) of the primary endpoint, from measured variance
    components (docs/stats.md). A budget whose design MDE exceeds its `target_mde` is flagged.
    """
    import yaml
    from rich.markup import escape

    from cxrbench.runner.design import budget_design
    from cxrbench.tasking import get_task

    spec = get_task(name)
    out.print(escape(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)))
    out.print(f"sha256: {spec.sha256()}")
    p = spec.primary
    out.print(f"primary endpoint: {p.estimand} of {p.metric} on {p.eval_set} (other eval sets and per-label: secondary)")
    for budget in spec.budgets:
        d = budget_design(spec, budget)
        mde = "unknown" if d.mde is None else f"{d.mde:.4f}"
        src = ("" if d.components_from is None else
               f" (variance components {d.components_from}{', extrapolated' if d.extrapolated else ''})")
        flag = ""
        if d.meets_target is False:
            flag = f" [bold red]FLAG: design MDE {mde} exceeds the budget's target {d.target_mde}[/]"
        elif d.meets_target:
            flag = f" ≤ target {d.target_mde}"
        patients = "?" if d.test_patients is None else str(d.test_patients)
        out.print(f"design {budget}: {patients} test patients, {d.seeds} seeds, MDE {mde}{escape(src)}{flag}")
        if d.note:
            out.print(f"  [dim]{escape(d.note)}[/]")


@tasks_app.command("requests")
def requests(
    name: str = typer.Argument(..., help="Task name, e.g. phantom/supplement-300"),
    out_dir: Path = typer.Option(..., "--out", help="Folder to write requests.parquet into."),
    profile: str = typer.Option("quick", "--profile", help="Budget (sets the image size and data size)."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder."),
) -> None:
    """Export the generation requests of a task (request_id, seed, condition columns).

    An offline generator answers them with `images/<request_id>.png` (with '/' in the id written
    as '__') or a datasets folder, declared as `precomputed: {synthetic: ...}` in its manifest.
    """
    import pandas as pd

    from cxrbench.runner.cache import Cache
    from cxrbench.runner.datasets import load_real_set
    from cxrbench.runner.generate import requests_for
    from cxrbench.tasking import get_task

    spec = get_task(name)
    if not spec.uses_generator:
        raise typer.BadParameter(f"{name} uses no synthetic images (ratio 0)")
    b = spec.budget(profile)
    c = Cache(cache)
    conditioning = load_real_set(spec.conditions_from, b, c.root / "images", max_images=b.max_train_images)
    table = pd.concat([requests_for(conditioning, r, spec.generation_seed) for r in range(spec.replicas)],
                      ignore_index=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out_dir / "requests.parquet", index=False)
    out.print(f"{len(table)} requests ({spec.replicas} per training row, {b.image_size} px) → {out_dir / 'requests.parquet'}")


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")
