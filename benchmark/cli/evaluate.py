"""`cxrbench evaluate` and `cxrbench compare`: the product's main job."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cxrbench.leaderboard import fields

ORDER = 1
out = Console(width=None if Console().is_terminal else 160)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _p(c) -> str:
    """A comparison's p-value with its stars (the record's own)."""
    p = fields.p_value(c)
    if p is None:
        return "—"
    return (f"{p:.3f}" if p >= 0.001 else "<0.001") + fields.stars(c)


def _delta_ci(c, digits: int = 3) -> str:
    low, high = fields.ci(c)
    d = fields.delta(c)
    if d is None:
        return "—"
    ci = "" if low is None or high is None else f" [{low:+.{digits}f}, {high:+.{digits}f}]"
    return f"{d:+.{digits}f}{ci}"


def _short(eval_set: str) -> str:
    return eval_set.split(":", 1)[-1].removeprefix("site-")


def results_table(records) -> Table:
    """One row per task: internal / external macro AUROC, Δ vs the real-only baseline, MDE, p, verdict.

    A failed task's row says so; its messages are not cut into a cell but listed by `failures()`.
    """
    table = Table(title="cxrbench results: macro AUROC of seed-ensembled predictions (± sd over seeds); "
                        "Δ vs the real-only baseline", show_lines=False)
    for col, just in (("task", "left"), ("internal", "right"), ("external", "right"),
                      ("Δ internal [95% CI]", "right"), ("MDE", "right"), ("p", "right"), ("verdict", "left"),
                      ("Δ external", "right"), ("labels ↑↓ (Holm)", "right")):
        # fold, never "…": on a narrow terminal a cell wraps instead of losing digits
        table.add_column(col, justify=just, overflow="fold", no_wrap=col == "task")
    for rec in records:
        if rec.status != "complete":
            table.add_row(escape(rec.task.name), "[red]failed[/]", "", "see below", "", "", "", "", "")
            continue
        internal = next((s for s in rec.eval_sets if s.eval_set == "internal_test"), None)
        externals = [s for s in rec.eval_sets if s.eval_set.startswith("external")]
        ext = " ".join(f"{_short(s.eval_set)} {_fmt(s.macro_auroc)}" for s in externals)
        comp = next((c for c in rec.comparisons if c.eval_set == "internal_test"), None)
        ext_comps = [c for c in rec.comparisons if c.eval_set.startswith("external")]
        if comp is not None:
            up = sum(1 for lab in comp.labels if lab.significant and (lab.delta or 0) > 0)
            down = sum(1 for lab in comp.labels if lab.significant and (lab.delta or 0) < 0)
            mde = fields.mde(comp)
            cells = [_delta_ci(comp), "—" if mde is None else f"{mde:.3f}", _p(comp),
                     fields.verdict_words(comp) or "—"]
            labels = f"{up}↑ {down}↓"
        else:
            cells, labels = ["baseline", "", "", ""], ""
        ext_delta = " ".join(f"{_short(c.eval_set)} {fields.delta(c):+.3f}{fields.stars(c)}"
                             for c in ext_comps if fields.delta(c) is not None)
        sd = f" ±{internal.seed_sd:.3f}" if internal and internal.seed_sd is not None else ""
        table.add_row(rec.task.name, (_fmt(internal.macro_auroc) + sd) if internal else "—", ext, *cells,
                      ext_delta, labels)
    return table


def failures(records) -> list[str]:
    """Every error of every failed record, in full, as plain text lines (printed below the table)."""
    return [f"{rec.task.name} failed: {msg}" for rec in records if rec.status != "complete"
            for msg in (rec.errors or ["(no message recorded)"])]


def evaluate(
    submission: Path = typer.Argument(..., help="Submission folder (with submission.yaml), e.g. submissions/reference-ddpm"),
    task: list[str] = typer.Option(None, "--task", "-t", help="Task name (repeatable), e.g. phantom/supplement-100. "
                                   "Default: every task of the submission's kind at this budget (`cxrbench tasks ls`)."),
    profile: str = typer.Option("quick", "--profile", "-p", help="Budget: `quick` (CPU, minutes) or `standard` (GPU)."),
    seeds: int = typer.Option(None, "--seeds", help="Number of classifier training seeds (default: the budget's)."),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="Where result records (JSON) and predictions (parquet) go."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder (default .cxrbench-cache or $CXRBENCH_CACHE)."),
    force: bool = typer.Option(False, "--force", help="Recompute every stage instead of reusing the cache."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for training and for submissions (1 is fastest on a busy 2-core machine)."),
    data_profile: str = typer.Option("phantom", "--data", help="Data profile: phantom (default), chexpert, mimic, csv."),
) -> None:
    """Score a generator or classifier submission: generate → train → predict → score, per task.

    For a generator, each task trains the reference classifier recipe on real + synthetic images
    (or synthetic only, or another site's real images + synthetic), over several seeds, and
    compares it with the real-only baseline trained the same way: Δ macro AUROC with its CI,
    p-value and minimum detectable effect, and per-label DeLong tests with Holm correction, on
    the internal test set and on external sites.

    Every stage is cached; a rerun after a crash resumes. Each record goes to
    OUT/<task>@<task version>/<submission>@<version>.json, with the '/' of the task name written
    as '__' (phantom/supplement-100 → OUT/phantom__supplement-100@<task version>/...).

    Examples:

      cxrbench evaluate submissions/reference-ddpm                  # phantom, quick budget, CPU

      cxrbench evaluate submissions/phantom-oracle -t phantom/supplement-300 --seeds 5
    """
    from cxrbench.runner.evaluate import RunOptions
    from cxrbench.runner.evaluate import evaluate as run_evaluate

    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    opts = RunOptions(budget=profile, out_dir=out_dir, cache_root=cache, force=force, device=device,
                      profile=data_profile, threads=threads)
    if seeds:
        from cxrbench.tasking import get_task

        # The first N seeds of the budget's list, extended with the next integers.
        first = get_task(task[0]).budget(profile).seeds if task else [0, 1, 2]
        opts.seeds = (list(first) + [s for s in range(1000) if s not in first])[:seeds]
    outcomes = run_evaluate(submission, task or None, opts)
    records = [o.record for o in outcomes]
    out.print(results_table(records))
    for line in failures(records):
        out.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
    for o in outcomes:
        out.print(f"[dim]record:[/] {escape(str(o.path))}", soft_wrap=True)
    if any(o.record.status != "complete" for o in outcomes):
        raise typer.Exit(1)


def compare(
    record_a: Path = typer.Argument(..., help="Result record JSON of submission A."),
    record_b: Path = typer.Argument(..., help="Result record JSON of submission B (same task)."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder (default .cxrbench-cache or $CXRBENCH_CACHE)."),
) -> None:
    """Paired tests between two submissions on the same task, from their saved predictions.

    Re-reads both records' per-image predictions (no retraining) and the task's labels, then
    reports Δ macro AUROC (A − B) per eval set with its CI, p-value, minimum detectable effect
    and verdict, and per-label DeLong tests with Holm correction.
    """
    from cxrbench.compare import compare_records
    from cxrbench.results import read_record

    a, b = read_record(record_a), read_record(record_b)
    comparisons = compare_records(a, b, record_a.parent, record_b.parent, cache_root=cache)
    table = Table(title=f"{a.submission.name} − {b.submission.name} on {a.task.name}")
    for col in ("eval set", "Δ macro AUROC [95% CI]", "MDE", "p", "verdict", "labels ↑ (Holm)", "labels ↓ (Holm)"):
        table.add_column(col)
    for c in comparisons:
        up = [lab.label for lab in c.labels if lab.significant and (lab.delta or 0) > 0]
        down = [lab.label for lab in c.labels if lab.significant and (lab.delta or 0) < 0]
        mde = fields.mde(c)
        table.add_row(c.eval_set, _delta_ci(c, 4), "—" if mde is None else f"{mde:.4f}", _p(c),
                      fields.verdict_words(c) or "—", ", ".join(up) or "—", ", ".join(down) or "—")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("compare")(compare)
