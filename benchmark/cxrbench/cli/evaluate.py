"""`cxrbench evaluate` and `cxrbench compare`: the product's main job."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cxrbench.cli._budget import budget_option, deprecated_profile_option, resolve_budget

ORDER = 1
out = Console(width=None if Console().is_terminal else 160)


def results_table(records) -> Table:
    """One row per task: seed-mean macro AUROC, the primary Δ with CI, p, MDE and verdict; secondary Δ.

    A failed task's row says so; its messages are not cut into a cell but listed by `failures()`.
    """
    from cxrbench.presentation import (
        delta_ci,
        delta_short,
        labels_up_down,
        macro_text,
        num,
        p_text,
        primary,
        site_name,
        verdict_text,
    )

    table = Table(title="cxrbench results: macro AUROC, mean over classifier seeds (± sd); Δ vs the real-only "
                        "baseline, primary endpoint with 95% CI (patients and seeds both vary); * p<0.05 ** p<0.01 "
                        "*** p<0.001", show_lines=False)
    for col in ("task", "internal", "external", "Δ primary [95% CI]", "p", "MDE", "verdict", "Δ secondary",
                "labels ↑↓ (Holm)"):
        # fold, never "…": on a narrow terminal a cell wraps instead of losing digits
        table.add_column(col, justify="left" if col in ("task", "verdict") else "right", overflow="fold",
                         no_wrap=col in ("task", "Δ primary [95% CI]", "external", "Δ secondary"))
    for rec in records:
        if rec.status != "complete":
            table.add_row(escape(rec.task.name), "—", "", "[red]failed[/] · see below", "", "", "", "", "")
            continue
        scores = {s.eval_set: s for s in rec.eval_sets}
        comp = primary(rec.comparisons)
        first = comp.eval_set if comp else "internal_test"
        internal = scores.get(first)
        ext = " ".join(f"{site_name(n)} {num(s.macro_auroc)}" for n, s in scores.items() if n != first)
        secondary = " ".join(f"{site_name(c.eval_set)} {delta_short(c)}" for c in rec.comparisons
                             if c.endpoint == "secondary")
        if comp is not None:
            row = [delta_ci(comp), p_text(comp.p_value), num(comp.mde), verdict_text(comp), secondary,
                   labels_up_down(comp)]
        else:
            row = ["baseline", "", "", "", "", ""]
        table.add_row(rec.task.name, macro_text(internal) if internal else "—", ext, *row)
    return table


def dry_run_table(plan) -> Table:
    """The plan of `evaluate --dry-run`: per stage, jobs, cached jobs, jobs to run and their estimated CPU time."""
    from cxrbench.presentation import duration

    tasks = ", ".join(name for name, _ in plan.tasks)
    table = Table(title=f"plan: {plan.submission} · {plan.budget} budget · {len(plan.tasks)} task(s): {tasks}")
    for col in ("stage", "jobs", "cached", "to run", "estimated CPU time"):
        table.add_column(col, justify="left" if col == "stage" else "right")

    def estimate(todo: int, seconds: float, unknown: int) -> str:
        known = todo - unknown
        parts = ([duration(seconds)] if known else []) + ([f"{unknown} job(s) not estimated"] if unknown else [])
        return " + ".join(parts) or "—"

    for st in plan.stages:
        table.add_row(st.stage, str(st.jobs), str(st.cached), str(st.jobs - st.cached),
                      estimate(st.jobs - st.cached, st.cpu_seconds, st.unknown))
    total = [sum(getattr(s, f) for s in plan.stages) for f in ("jobs", "cached", "unknown")]
    table.add_row("total", str(total[0]), str(total[1]), str(total[0] - total[1]),
                  estimate(total[0] - total[1], plan.cpu_seconds, total[2]), style="bold")
    return table


def population_lines(records) -> list[str]:
    """What the submission learned from against each task's own real rows, one line per distinct answer."""
    from cxrbench.presentation import trained_on

    by_text: dict[str, list[str]] = {}
    for rec in records:
        by_text.setdefault(trained_on(rec)["trained_on"], []).append(rec.task.name)
    return [f"trained on: {text} · {', '.join(tasks)}" for text, tasks in by_text.items()]


def failures(records) -> list[str]:
    """Every error of every failed record, in full, as plain text lines (printed below the table)."""
    return [f"{rec.task.name} failed: {msg}" for rec in records if rec.status != "complete"
            for msg in (rec.errors or ["(no message recorded)"])]


#: `cxrbench evaluate` exit status when at least one task's record is `failed`
EXIT_TASK_FAILED = 3
#: `cxrbench compare` exit status when two records of one submission break the reproducibility contract
EXIT_NOT_REPRODUCED = 4


def resume_command(argv: list[str] | None = None) -> str:
    """This very command, as a user types it again to resume (without --force, which would recompute)."""
    import shlex

    args = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--force"]
    return shlex.join(["cxrbench", *args])


def evaluate(
    submission: Path = typer.Argument(..., help="Submission folder (with submission.yaml), e.g. submissions/reference-ddpm"),
    task: list[str] = typer.Option(None, "--task", "-t", help="Task name (repeatable), e.g. phantom/supplement-100. "
                                   "Default: every task of the submission's kind at this budget (`cxrbench tasks ls`)."),
    budget: str = budget_option(),
    seeds: int = typer.Option(None, "--seeds", help="Number of classifier training seeds (default: the budget's)."),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="Where result records (JSON) and predictions (parquet) go."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder (default .cxrbench-cache or $CXRBENCH_CACHE)."),
    force: bool = typer.Option(False, "--force", help="Recompute every stage instead of reusing the cache."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for training and for submissions (1 is fastest on a busy 2-core machine)."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Reference-classifier runs trained at once, one process each "
                             "(0 = one per CPU core on a CPU, 1 on a GPU). Predictions do not depend on it."),
    data_profile: str = typer.Option("phantom", "--data", help="Data profile: phantom (default), chexpert, mimic, csv."),
    executor: str = typer.Option("local", "--executor", help="Who runs the jobs: local (this process; --jobs "
                                 "training processes) or ray (Ray tasks; needs `pip install 'cxrbench\\[ray]'`). "
                                 "Predictions do not depend on it (docs/scale-out.md)."),
    address: str = typer.Option(None, "--address", help="With --executor ray: the Ray cluster to join (auto, or "
                                "HOST:PORT of its head). Default: start a Ray instance on the local machine."),
    ray_workers: int = typer.Option(0, "--ray-workers", help="With --executor ray and no --address: CPUs of the "
                                    "local Ray instance, i.e. CPU jobs at once (0 = all; GPUs are always all)."),
    features: str = typer.Option(None, "--features", help="The audit's feature space: phantom (the phantom's "
                                 "default), rad-dino or xrv-densenet (needed on real data; docs/audit.md)."),
    feature_weights: str = typer.Option(None, "--feature-weights", help="The audit space's weights folder (rad-dino: "
                                        "or a hub id in the local Hugging Face cache)."),
    unsafe_no_sandbox: bool = typer.Option(False, "--unsafe-no-sandbox",
                                           help="DANGEROUS: run submission code without bubblewrap isolation "
                                                "(only where bwrap cannot run; records say so, the leaderboard marks them)."),
    evaluator_key: str = typer.Option(None, "--evaluator-key", envvar="CXRBENCH_EVALUATOR_KEY", show_envvar=True,
                                      help="Evaluator key file (`cxrbench keys new`): score on the held-out eval sets "
                                           "it derives and sign the records. Without one: the public dev sets."),
    eval_sets: str = typer.Option(None, "--eval-sets", help="held-out (the default with a key) or dev (the public "
                                  "sets; with a key the records are still signed)."),
    private_evals: Path = typer.Option(None, "--private-evals", help="YAML naming private eval sets on the evaluator's machine "
                                       "(eval set: {csv: FILE, mapping: FILE}); needs a key (docs/verification.md)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the submission, tasks and budget, print the plan "
                                 "(jobs per stage, how many are cached, estimated CPU time) and exit; nothing runs."),
    limit: int = typer.Option(None, "--limit", help="Smoke test: at most N images per set (whole patients). The "
                              "records say so (smoke_limit), go to <submission>@<version>.smoke.json and are never "
                              "publishable."),
    profile: str = deprecated_profile_option(),
) -> None:
    """Score a generator or classifier submission: generate → train → predict → score, per task.

    For a generator, each task trains the reference classifier recipe on real + synthetic images
    (or synthetic only, or another site's real images + synthetic), over several seeds, and
    compares it with the real-only baseline trained the same way. The task's primary endpoint
    (seed-mean Δ macro AUROC on its internal test set) gets a 95% CI and p-value that account
    for both the test patients and the training seeds, its minimum detectable effect (80% power)
    and a verdict; external sites and per-label deltas (Holm) are secondary (docs/stats.md).

    Every stage is cached; a rerun after a crash resumes. Each record goes to
    OUT/<profile>/<budget>/<task>@<task version>/<submission>@<version>.json, the layout of the
    leaderboard's store, with <task> the task name without its profile (phantom/supplement-100 at
    the quick budget → OUT/phantom/quick/supplement-100@<task version>/...); a failed rerun never
    replaces a complete record: it goes to <submission>@<version>.failed.json beside it.

    With an evaluator key the eval sets are held out: drawn from the key (phantom) or read from
    private CSV sources, never the public dev sets; records carry only the key's public
    fingerprint and are signed with it (docs/verification.md).

    Exit codes: 0 every task complete; 3 at least one task failed (the others still ran; see the
    records' errors); 2 nothing ran (bad submission, task, key, or no bubblewrap); 130 / 143
    stopped by SIGINT / SIGTERM: every worker, sandbox and Ray task it started is stopped, the cache
    keeps only whole entries, and the last line says what was kept and the command that resumes.

    Examples:

      cxrbench evaluate submissions/reference-ddpm                  # phantom, quick budget, CPU

      cxrbench evaluate submissions/phantom-oracle -t phantom/supplement-300 --seeds 5

      cxrbench evaluate submissions/reference-ddpm -b standard --executor ray   # every GPU of the local machine

      cxrbench evaluate submissions/reference-ddpm -b standard --executor ray --address auto   # a Ray cluster

      cxrbench evaluate submissions/reference-ddpm --evaluator-key ~/.config/cxrbench/evaluator.key   # held-out
    """
    budget = resolve_budget(budget, profile)

    from cxrbench.api import run, run_options

    opts = run_options(tasks=task, budget=budget, seeds=seeds, out=out_dir, cache=cache, force=force, device=device,
                       threads=threads, jobs=jobs, data=data_profile, executor=executor, address=address,
                       ray_workers=ray_workers, unsafe_no_sandbox=unsafe_no_sandbox, limit=limit,
                       evaluator_key=evaluator_key, eval_sets=eval_sets, private_evals=private_evals,
                       features=features, feature_weights=feature_weights)
    if dry_run:
        from cxrbench.runner.dry_run import dry_run as plan_only

        plan = plan_only(submission, task or None, opts)
        out.print(dry_run_table(plan))
        for source in plan.sources:
            out.print(f"[dim]estimate · {escape(source)}[/]", soft_wrap=True)
        for note in plan.notes:
            out.print(f"[dim]{escape(note)}[/]", soft_wrap=True)
        for name, error in plan.tasks:
            if error:
                out.print(f"[bold red]error:[/] {escape(name)}: {escape(error)}", soft_wrap=True)
        if any(error for _, error in plan.tasks):
            raise typer.Exit(EXIT_TASK_FAILED)
        return
    from cxrbench.errors import Interrupted
    from cxrbench.runner.interrupt import adopt_orphans, resume_line, signals_raise, stop_descendants

    with signals_raise():  # inside it, a second signal is ignored while the first one's cleanup runs
        try:
            adopt_orphans()
            outcomes = run(submission, task or None, opts)
        except Interrupted as exc:
            stop_descendants()  # whatever the executor's own stop left (e.g. agents of a local Ray)
            Console(stderr=True, soft_wrap=True).print(escape(resume_line(exc, resume_command())),
                                                       style="bold yellow")
            # every worker is stopped and the line is out; a job still unwinding in a background
            # thread (inside torch) must not run into the interpreter's teardown, so leave now
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.exit_code)
    records = [o.record for o in outcomes]
    out.print(results_table(records))
    for line in population_lines(records):
        out.print(escape(line), soft_wrap=True)
    for line in failures(records):
        out.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
    for o in outcomes:
        out.print(f"[dim]record:[/] {escape(str(o.path))}", soft_wrap=True)
    if any(o.record.status != "complete" for o in outcomes):
        raise typer.Exit(EXIT_TASK_FAILED)


def compare(
    record_a: Path = typer.Argument(..., help="Result record JSON of submission A."),
    record_b: Path = typer.Argument(..., help="Result record JSON of submission B (same task)."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder (default .cxrbench-cache or $CXRBENCH_CACHE)."),
    evaluator_key: str = typer.Option(None, "--evaluator-key", envvar="CXRBENCH_EVALUATOR_KEY", show_envvar=True,
                                      help="The key whose held-out sets both records were scored on (their labels "
                                           "need it)."),
    private_evals: Path = typer.Option(None, "--private-evals", help="Their private eval sets, as given to evaluate."),
) -> None:
    """Paired tests between two submissions on the same task, from their saved predictions.

    Re-reads both records' per-image predictions (no retraining) and the task's labels, then
    reports the seed-mean Δ macro AUROC (A − B) per eval set with the same CI, p-value, MDE and
    verdict as `evaluate` (patients and seeds both vary), and per-label tests with Holm correction.
    Refused when the records differ in task version, eval population, eval-set fingerprints,
    seeds or labels. Published records ship without their predictions: `cxrbench reproduce
    RECORD...` regenerates them.

    Two records of the same submission (same files, task and seeds; e.g. yours and the published
    one) are also checked against the reproducibility contract (docs/reproducibility.md): each
    macro AUROC and Δ that differs by more than its tolerance is named, with both values and both
    environments (CPU, instruction set, threads, library versions); exit code 4 then. The paired
    tests need both predictions files; without one (a published record's stay in the publisher's
    store) only this check runs.
    """
    from cxrbench.compare import compare_records
    from cxrbench.reproducibility import check, same_submission
    from cxrbench.results import RecordError, read_record
    from cxrbench.trust.populations import population_from_options

    a, b = read_record(record_a), read_record(record_b)
    held_out = a.evaluation.eval_sets == "held-out"
    population = population_from_options(evaluator_key if held_out else None, a.evaluation.eval_sets,
                                         private_evals if held_out else None)
    reproduction = check(a, b) if same_submission(a, b) else None
    try:
        comparisons = compare_records(a, b, record_a.parent, record_b.parent, cache_root=cache, population=population,
                                      files=(record_a, record_b))
    except RecordError as exc:
        if reproduction is None:  # two submissions: the paired tests are the point
            raise
        # two runs of one submission (a published record's predictions stay in the publisher's store)
        out.print(f"[dim]paired tests not computed: {escape(str(exc))}[/]", soft_wrap=True)
        comparisons = []
    from cxrbench.presentation import delta_ci, num, p_text, verdict_text

    if comparisons:
        table = Table(title=f"{a.submission.name} − {b.submission.name} on {a.task.name}")
        for col in ("eval set", "endpoint", "Δ macro AUROC [95% CI]", "p", "MDE", "verdict", "labels ↑ (Holm)",
                    "labels ↓ (Holm)"):
            table.add_column(col)
        for c in comparisons:
            up = [lab.label for lab in c.labels if lab.significant and (lab.delta or 0) > 0]
            down = [lab.label for lab in c.labels if lab.significant and (lab.delta or 0) < 0]
            table.add_row(c.eval_set, c.endpoint, delta_ci(c, 4), p_text(c.p_value), num(c.mde), verdict_text(c),
                          ", ".join(up) or "—", ", ".join(down) or "—")
        out.print(table)
    if reproduction is not None:
        style = "green" if reproduction.ok else "bold red"
        for line in reproduction.lines():
            out.print(f"[{style}]reproduction:[/] {escape(line)}", soft_wrap=True)
        if not reproduction.ok:
            raise typer.Exit(EXIT_NOT_REPRODUCED)


def reproduce(
    records: list[Path] = typer.Argument(..., help="Result record JSON file(s), e.g. a published record."),
    submission: Path = typer.Option(None, "--submission", help="The submission folder (default: submissions/<name>, "
                                    "checked against the record's sha256)."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder (default .cxrbench-cache or $CXRBENCH_CACHE)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Reference-classifier runs trained at once."),
    unsafe_no_sandbox: bool = typer.Option(False, "--unsafe-no-sandbox", help="DANGEROUS: run submission code "
                                           "without bubblewrap isolation."),
) -> None:
    """Regenerate a record's per-image predictions from its task, submission and seeds, and check them.

    Reruns `evaluate` for exactly the record's task (version and spec hash), submission (content hash),
    budget and classifier seeds, then accepts the predictions under the reproducibility contract
    (docs/reproducibility.md): their sha256 is the record's, or, on another CPU, instruction set,
    thread count or library build, every macro AUROC and Δ is within its tolerance. They are
    written beside the record, where `cxrbench compare` finds them. Takes as long as the original
    run (training, and generation for a generator).

    Example:

      cxrbench reproduce leaderboard/cxrbench/leaderboard/results/phantom/quick/supplement-100@5/noise@1.json
    """
    from cxrbench.reproduce import reproduce as run_reproduce

    if len(records) > 1 and submission is not None:
        from cxrbench.errors import ConfigError

        raise ConfigError("--submission names one folder: give one record with it")
    for record in records:
        done = run_reproduce(record, submission=submission, cache_root=cache, device=device, jobs=jobs,
                             unsafe_no_sandbox=unsafe_no_sandbox)
        out.print(f"{escape(str(record))}: {done.note}; predictions written to {escape(str(done.predictions))}",
                  soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("compare")(compare)
    app.command("reproduce")(reproduce)
