"""`cxrbench evaluate` and `cxrbench compare`: the product's main job."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

ORDER = 1
out = Console(width=None if Console().is_terminal else 160)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    stars = "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
    return f"{p:.3f}{stars}" if p >= 0.001 else f"<0.001{stars}"


def results_table(records) -> Table:
    """One row per task: internal / external macro AUROC, Δ vs the real-only baseline, p."""
    table = Table(title="cxrbench results: macro AUROC of seed-ensembled predictions (± sd over seeds); "
                        "Δ vs the real-only baseline", show_lines=False)
    for col, just in (("task", "left"), ("internal", "right"), ("external", "right"),
                      ("Δ internal [95% CI]", "right"), ("p (boot)", "right"), ("p (seeds)", "right"),
                      ("Δ external", "right"), ("labels ↑↓ (Holm)", "right")):
        table.add_column(col, justify=just, no_wrap=col in ("task", "Δ internal [95% CI]", "external", "Δ external"))
    for rec in records:
        if rec.status != "complete":
            table.add_row(rec.task.name, "[red]failed[/]", "", rec.errors[0][:60] if rec.errors else "", "", "", "", "")
            continue
        internal = next((s for s in rec.eval_sets if s.eval_set == "internal_test"), None)
        externals = [s for s in rec.eval_sets if s.eval_set.startswith("external")]
        ext = " ".join(f"{s.eval_set.split(':', 1)[-1].removeprefix('site-')} {_fmt(s.macro_auroc)}" for s in externals)
        comp = next((c for c in rec.comparisons if c.eval_set == "internal_test"), None)
        ext_comps = [c for c in rec.comparisons if c.eval_set.startswith("external")]
        if comp is not None:
            delta = f"{comp.delta_macro_auroc:+.3f} [{comp.bootstrap_ci_low:+.3f}, {comp.bootstrap_ci_high:+.3f}]"
            up = sum(1 for lab in comp.labels if lab.significant and (lab.delta or 0) > 0)
            down = sum(1 for lab in comp.labels if lab.significant and (lab.delta or 0) < 0)
            labels = f"{up}↑ {down}↓"
            pb, ps = _p(comp.bootstrap_p_value), _p(comp.seed_aware_p_value)
        else:
            delta, labels, pb, ps = "baseline", "", "", ""
        ext_delta = " ".join(f"{c.eval_set.split(':', 1)[-1].removeprefix('site-')} {c.delta_macro_auroc:+.3f}"
                             + ("*" if (c.bootstrap_p_value or 1) < 0.05 else "")
                             for c in ext_comps if c.delta_macro_auroc is not None)
        sd = f" ±{internal.seed_sd:.3f}" if internal and internal.seed_sd is not None else ""
        table.add_row(rec.task.name, (_fmt(internal.macro_auroc) + sd) if internal else "—", ext, delta, pb, ps,
                      ext_delta, labels)
    return table


#: `cxrbench evaluate` exit status when at least one task's record is `failed`
EXIT_TASK_FAILED = 3


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
    unsafe_no_sandbox: bool = typer.Option(False, "--unsafe-no-sandbox",
                                           help="DANGEROUS: run submission code without bubblewrap isolation "
                                                "(only where bwrap cannot run; records say so, the leaderboard marks them)."),
) -> None:
    """Score a generator or classifier submission: generate → train → predict → score, per task.

    For a generator, each task trains the reference classifier recipe on real + synthetic images
    (or synthetic only, or another site's real images + synthetic), over several seeds, and
    compares it with the real-only baseline trained the same way: Δ macro AUROC with a
    patient-clustered bootstrap CI and p-value, a seed-aware p-value, and per-label DeLong tests
    with Holm correction, on the internal test set and on external sites.

    Every stage is cached; a rerun after a crash resumes. Records go to OUT/<task>/<name>@<version>.json
    (a failed rerun never replaces a complete record: it goes to <name>@<version>.failed.json beside it).

    Exit codes: 0 every task complete; 3 at least one task failed (the others still ran; see the
    records' errors); 2 nothing ran (bad submission, task, or no bubblewrap).

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
                      profile=data_profile, threads=threads, unsafe_no_sandbox=unsafe_no_sandbox)
    if seeds:
        from cxrbench.tasking import get_task

        # The first N seeds of the budget's list, extended with the next integers.
        first = get_task(task[0]).budget(profile).seeds if task else [0, 1, 2]
        opts.seeds = (list(first) + [s for s in range(1000) if s not in first])[:seeds]
    outcomes = run_evaluate(submission, task or None, opts)
    out.print(results_table([o.record for o in outcomes]))
    for o in outcomes:
        out.print(f"[dim]record:[/] {o.path}")
    if any(o.record.status != "complete" for o in outcomes):
        raise typer.Exit(EXIT_TASK_FAILED)


def compare(
    record_a: Path = typer.Argument(..., help="Result record JSON of submission A."),
    record_b: Path = typer.Argument(..., help="Result record JSON of submission B (same task)."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder (default .cxrbench-cache or $CXRBENCH_CACHE)."),
) -> None:
    """Paired tests between two submissions on the same task, from their saved predictions.

    Re-reads both records' per-image predictions (no retraining) and the task's labels, then
    reports Δ macro AUROC (A − B) per eval set with a patient-clustered bootstrap CI and p, a
    seed-aware p-value, and per-label DeLong tests with Holm correction.
    """
    from cxrbench.compare import compare_records
    from cxrbench.results import read_record

    a, b = read_record(record_a), read_record(record_b)
    comparisons = compare_records(a, b, record_a.parent, record_b.parent, cache_root=cache)
    table = Table(title=f"{a.submission.name} − {b.submission.name} on {a.task.name}")
    for col in ("eval set", "Δ macro AUROC [95% CI]", "p (boot)", "p (seeds)", "labels ↑ (Holm)", "labels ↓ (Holm)"):
        table.add_column(col)
    for c in comparisons:
        up = [lab.label for lab in c.labels if lab.significant and (lab.delta or 0) > 0]
        down = [lab.label for lab in c.labels if lab.significant and (lab.delta or 0) < 0]
        table.add_row(c.eval_set, f"{c.delta_macro_auroc:+.4f} [{c.bootstrap_ci_low:+.4f}, {c.bootstrap_ci_high:+.4f}]",
                      _p(c.bootstrap_p_value), _p(c.seed_aware_p_value), ", ".join(up) or "—", ", ".join(down) or "—")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("compare")(compare)
