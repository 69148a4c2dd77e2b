"""`cxrbench audit`: fidelity, adherence, diversity, memorization and leakage of a generator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from cxrbench.cli._budget import budget_option, deprecated_profile_option, resolve_budget

ORDER = 2
out = Console()


def audit(
    submission: Path = typer.Argument(..., help="Generator submission folder, e.g. submissions/reference-ddpm"),
    task: str = typer.Option("phantom/supplement-100", "--task", "-t", help="Task whose training rows condition the images."),
    budget: str = budget_option("Budget: quick or standard."),
    out_dir: Path = typer.Option(Path("runs/audit"), "--out", help="Where the report JSON and the galleries go."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder (default .cxrbench-cache or $CXRBENCH_CACHE)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (nearest neighbours run on the GPU when given)."),
    profile: str = deprecated_profile_option(),
    features: str = typer.Option(None, "--features", help="Feature space: phantom (the phantom's default), rad-dino "
                                 "or xrv-densenet (docs/audit.md). FID-style figures are never compared across spaces."),
    feature_weights: str = typer.Option(None, "--feature-weights", help="The space's weights: a folder (or, for "
                                        "rad-dino, a hub id in the local Hugging Face cache). Default: "
                                        "$CXRBENCH_FEATURES_DIR/<space> or ~/.cache/cxrbench/features/<space>."),
) -> None:
    """Audit a generator's synthetic images before (or beside) scoring them downstream.

    Generates (or reuses from the cache) the task's first replica, then measures, in a feature
    space (`--features`; the phantom's shipped reference space by default) and in pixel space: Fréchet distance and k-NN
    precision/recall against the real training images (overall and per finding); adherence
    (AUROC of the reference classifier against the conditioned labels); diversity (feature
    spread, duplicate rate); memorization (nearest real training image, share closer than a
    threshold calibrated on real pairs of different patients) and leakage (near-duplicates of
    test images, a hard failure). Galleries of the closest pairs are written as PNGs.

    Example: cxrbench audit submissions/phantom-oracle --out runs/audit/oracle

    Example: cxrbench audit submissions/reference-ddpm --features rad-dino --feature-weights microsoft/rad-dino
    """
    from rich.progress import Progress

    from cxrbench.audit import AuditReport, cli_table
    from cxrbench.errors import SubmissionError
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.datasets import load_eval_set
    from cxrbench.runner.evaluate import RunOptions, TaskRun
    from cxrbench.submissions import load_submission
    from cxrbench.tasking import get_task

    sub = load_submission(submission)
    sub.sha256()  # hashed once for the replica keys and the audit
    if sub.kind != "generator":
        raise SubmissionError(f"{submission}: the audit is for generators; this is a {sub.kind}")
    spec = get_task(task)
    if not spec.uses_generator:
        raise typer.BadParameter(f"{task} uses no synthetic images; pick a task with N > 0")
    opts = RunOptions(budget=resolve_budget(budget, profile), cache_root=cache, device=device,
                      audit_features=features, feature_weights=feature_weights)
    with Progress(console=Console(stderr=True)) as progress:
        run = TaskRun(sub, spec, opts, Cache(cache), progress)
        b = run.budget
        conditioning = run._real(spec.conditions_from, b.max_train_images)
        eval_sets = {name: load_eval_set(name, ref, b, run.store_root, opts.population)
                     for name, ref in spec.eval_sets.items()}
        replica = run.generate(conditioning)[0]
        report = run.audit(replica, conditioning, eval_sets)
    if "skipped" in report:  # no feature space to measure in: a bad request, one line (exit 2)
        from cxrbench.errors import ConfigError

        raise ConfigError(f"audit not run: {report['skipped']}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "audit.json").write_text(json.dumps(report, indent=1))
    if run.audit_gallery and run.audit_gallery.is_dir():
        shutil.copytree(run.audit_gallery, out_dir / "gallery", dirs_exist_ok=True)
    out.print(cli_table(AuditReport.model_validate(report)))
    out.print(f"[dim]report:[/] {escape(str(out_dir / 'audit.json'))}   [dim]galleries:[/] {escape(str(out_dir / 'gallery'))}")
    if report.get("leakage_flag"):
        out.print("[bold red]LEAKAGE: synthetic images reproduce test images. This generator cannot be scored.[/]")
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
