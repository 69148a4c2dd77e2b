"""`cli_table(report)`: the audit as one rich table for the terminal, flags in red."""

from __future__ import annotations

from rich.table import Table

from cxrbench.audit.report import AuditReport


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}g}" if abs(x) >= 1000 else f"{x:.{digits}f}"


def cli_table(report: AuditReport) -> Table:
    """One row per metric: group, metric, value, note. Leakage and memorization flags stand out."""
    table = Table(title=f"Generator audit ({report.n_synthetic} synthetic vs {report.n_real_train} train / "
                        f"{report.n_real_test} test images, {report.feature_space})", show_lines=False)
    for column in ("group", "metric", "value", "note"):
        table.add_column(column, justify="right" if column == "value" else "left")

    leak = report.leakage
    if report.leakage_flag:
        worst = max(leak.spaces, key=lambda s: s.n_near_duplicate)
        table.add_row("[bold red]LEAKAGE[/]", "near-duplicates of test images",
                      f"[bold red]{worst.n_near_duplicate}[/]",
                      f"[red]hard failure: test images reached the generator ({worst.space})[/]")
    else:
        table.add_row("leakage", "near-duplicates of test images", "0" if leak.tolerance == 0 else
                      str(max(s.n_near_duplicate for s in leak.spaces)), "[green]none[/]")
    mem = report.memorization
    for s in mem.spaces:
        for metric, share, limit in (
            (f"share nearer a training image than {s.calibration.close_quantile:.0%} of real pairs",
             s.share_close, mem.tolerance),
            ("share of near-copies of training images", s.share_near_duplicate, mem.near_duplicate_tolerance),
        ):
            flagged = share > limit
            table.add_row("[bold red]MEMORIZATION[/]" if flagged else "memorization", metric,
                          f"[{'bold red' if flagged else 'green'}]{share:.3f}[/]",
                          f"{s.space}; flagged above {limit:.3f}")
    fid = report.fidelity
    table.add_row("fidelity", "Fréchet distance", _fmt(fid.frechet_distance), fid.space)
    table.add_row("fidelity", "precision / recall / coverage",
                  f"{fid.precision:.3f} / {fid.recall:.3f} / {fid.coverage:.3f}", f"k-NN, k={report.config.k}")
    for name, f in fid.per_finding.items():
        if f.frechet_distance is not None:
            table.add_row("fidelity", f"  FD | {name}", _fmt(f.frechet_distance), f"{f.n_synthetic} syn / {f.n_real} real")
    if report.adherence is not None:
        adh = report.adherence
        table.add_row("adherence", "macro AUROC vs conditions", _fmt(adh.macro_auroc), "reference classifier")
        if adh.truth_macro_auroc is not None:
            table.add_row("adherence", "macro AUROC vs rendered truth", _fmt(adh.truth_macro_auroc), "phantom")
        for name, a in adh.per_finding.items():
            table.add_row("adherence", f"  AUROC | {name}", _fmt(a.auroc), a.undefined_reason or f"{a.n_pos} pos")
    div = report.diversity
    table.add_row("diversity", "spread ratio (synthetic / real)", _fmt(div.spread_ratio), "1 = as varied as real")
    for space, rate in div.duplicate_rate.items():
        table.add_row("diversity", "duplicate rate", f"{rate:.3f}", f"{space}; {div.n_duplicate_checked} checked")
    return table
