"""`cxrbench tasks ...`: list and inspect the versioned tasks; export what offline submissions need."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cxrbench.cli._budget import budget_option, deprecated_profile_option, resolve_budget

ORDER = 5
out = Console()
tasks_app = typer.Typer(help="Tasks: list them, show one, export what an offline (precomputed) submission needs.",
                        no_args_is_help=True)


@tasks_app.command("ls")
def ls(profile: str = typer.Option(None, "--data", help="Only tasks of this data profile (phantom, chexpert, ...)."),
       wide: bool = typer.Option(False, "--wide", "-w", help="Also the data each task trains on, draws its "
                                 "conditions from and evaluates on (needs ~160 columns).")) -> None:
    """List every shipped task with its version, label set and budgets (with their timeouts); `--wide`
    adds its data references and eval sets."""
    from cxrbench.tasking import load_tasks

    out.print(tasks_table([spec for spec in load_tasks().values() if not profile or spec.profile == profile],
                          wide=wide))


def tasks_table(specs, *, wide: bool = False) -> Table:
    """One row per task; the default columns fit 80 characters. No cell is ever cut with '…': on a
    terminal too narrow for the table a value wraps onto the next line instead."""
    table = Table(title="cxrbench tasks (budgets with their timeouts in seconds: generator/classifier)", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, collapse_padding=True)
    # family and N% are spelled by the task's name (<profile>/<family>-<N>[-<label set>])
    columns = ("task", "v", "labels", "real train", "conditions from", "eval sets", "budgets") if wide else \
        ("task", "v", "labels", "budgets")
    for col in columns:
        table.add_column(col, overflow="fold", no_wrap=col in ("task", "v", "labels"))
    for spec in specs:
        budgets = [f"{name} {b.generator_timeout_s}/{b.classifier_timeout_s}"
                   if spec.uses_generator or spec.family == "real_only" else name for name, b in spec.budgets.items()]
        if not wide:  # one budget a line keeps the table within 80 columns
            table.add_row(spec.name, str(spec.version), spec.label_set, "\n".join(budgets))
            continue
        table.add_row(spec.name, str(spec.version), f"{spec.label_set} ({len(spec.labels)})", _ref(spec.real_train),
                      _ref(spec.conditions_from),
                      " ".join("internal" if n == "internal_test" else n.replace("external:", "") for n in spec.eval_sets),
                      " ".join(budgets))
    return table


def _ref(ref) -> str:
    return ref.key if ref else "—"


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
    out.print(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), markup=False, highlight=False)
    out.print(f"sha256: {spec.sha256()}")
    out.print(f"labels ({spec.label_set}, {len(spec.labels)}): {', '.join(spec.labels)}", soft_wrap=True)
    for budget_name, b in spec.budgets.items():
        out.print(f"timeouts {budget_name}: generator {b.generator_timeout_s} s, classifier {b.classifier_timeout_s} s, "
                  f"memory {b.memory_limit_gb:g} GB")
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
    budget: str = budget_option("Budget (sets the image size and data size)."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder."),
    with_prompts: bool = typer.Option(False, "--prompts", help="Also write each request's prompt (column `prompt`), "
                                      "the text a `key: prompt` table (CheXGenBench layout) is matched by."),
    template: str = typer.Option(None, "--template", help="Prompt template (with --prompts; default: the report "
                                 "style, '{view} chest radiograph of a {patient}. {findings}'); fields as in "
                                 "submissions/README.md."),
    uncertain_as: str = typer.Option("possible", "--uncertain-as", help="With --prompts: uncertain (-1) labels read "
                                     "as possible (default), positive or negative."),
    no_negatives: bool = typer.Option(False, "--no-negatives", help="With --prompts: leave absent findings out "
                                      "(no 'No pneumothorax.')."),
    profile: str = deprecated_profile_option(),
) -> None:
    """Export the generation requests of a task (request_id, seed, condition columns; with --prompts, each prompt).

    An offline generator answers them with `images/<request_id>.png` (with '/' in the id written
    as '__') or a datasets folder, declared as `precomputed: {synthetic: ...}` in its manifest;
    a text-to-image model run elsewhere answers each `prompt` and declares its table with
    `key: prompt` and the same template. `cxrbench tasks export` writes these and the eval images.
    """
    from pydantic import ValidationError

    from cxrbench.errors import ConfigError, pydantic_problems
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.export import REQUESTS_FILE, write_requests
    from cxrbench.submissions.condition_mapping import DEFAULT_TEMPLATE, PromptMapping
    from cxrbench.tasking import get_task

    spec = get_task(name)
    if not spec.uses_generator:
        raise typer.BadParameter(f"{name} uses no synthetic images (ratio 0)")
    if not with_prompts and (template or no_negatives or uncertain_as != "possible"):
        raise ConfigError("--template, --uncertain-as and --no-negatives shape the prompts: add --prompts")
    mapping = None
    if with_prompts:
        try:
            mapping = PromptMapping(template=template or DEFAULT_TEMPLATE, uncertain_as=uncertain_as,
                                    mention_negatives=not no_negatives)
        except ValidationError as exc:
            raise ConfigError(f"--template / --uncertain-as: {pydantic_problems(exc)}") from None
    budget = resolve_budget(budget, profile)
    n = write_requests(spec, budget, out_dir, Cache(cache), mapping)
    what = f", prompts under {mapping.template!r}" if mapping else ""
    out.print(f"{n} requests ({spec.replicas} per training row, {spec.budget(budget).image_size} px{escape(what)}) → "
              f"{escape(str(out_dir / REQUESTS_FILE))}", soft_wrap=True)


@tasks_app.command("export")
def export(
    name: str = typer.Argument(..., help="Task name, e.g. phantom/classify or phantom/supplement-300"),
    out_dir: Path = typer.Option(..., "--out", help="Folder to write into (created)."),
    budget: str = budget_option("Budget (sets the image size and data size)."),
    cache: Path = typer.Option(None, "--cache", help="Cache folder."),
    profile: str = deprecated_profile_option(),
) -> None:
    """Export what an offline (precomputed) submission needs: eval images and generation requests.

    Writes the task's unlabeled eval images as OUT/eval/<eval set>/<image_id>.png (ids with '/'
    written as '__'), indexed by OUT/eval_images.parquet (eval_set, image_id, file), and, for a
    task that uses a generator, OUT/requests.parquet as `cxrbench tasks requests` does. A
    precomputed classifier answers with one file of image_id + one probability column per label;
    see submissions/README.md.
    """
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.export import EVAL_IMAGES_FILE, REQUESTS_FILE, export_task
    from cxrbench.tasking import get_task

    spec = get_task(name)
    done = export_task(spec, resolve_budget(budget, profile), out_dir, Cache(cache))
    sets = ", ".join(f"{n} {k}" for k, n in done.eval_images.items())
    out.print(f"{sum(done.eval_images.values())} eval images ({sets}; {done.image_size} px, no labels) → "
              f"{escape(str(out_dir / 'eval'))}, indexed by {escape(str(out_dir / EVAL_IMAGES_FILE))}", soft_wrap=True)
    if done.requests:
        out.print(f"{done.requests} generation requests → {escape(str(out_dir / REQUESTS_FILE))}", soft_wrap=True)


@tasks_app.command("fingerprint")
def fingerprint(
    profile: str = typer.Argument("phantom", help="Data profile whose tasks to fingerprint: phantom or chexpert."),
    check: bool = typer.Option(False, "--check", help="Only compare with the shipped file; exit 1 when it differs."),
) -> None:
    """Remake tasks/cxrbench/tasks/<profile>.fingerprints.json: the slice fingerprints every record
    of the profile's tasks must carry (`cxrbench publish` refuses a record scored on other data).

    Only ids enter a fingerprint, so this needs no pixels; chexpert needs CXRBENCH_CHEXPERT_ROOT (a
    root holding only CheXpert-v1.0-small/train.csv(.gz) is enough). A changed file means a task's
    data changed: bump the task's version.

    Examples:

      cxrbench tasks fingerprint phantom

      CXRBENCH_CHEXPERT_ROOT=/data/chexpert cxrbench tasks fingerprint chexpert --check
    """
    from cxrbench.data.atomic import atomic_write_text
    from cxrbench.runner.task_fingerprints import shipped_path, task_fingerprints, to_json

    text, path = to_json(task_fingerprints(profile)), shipped_path(profile)
    if check:
        same = path.is_file() and path.read_text() == text
        out.print(f"{escape(str(path))}: {'current' if same else '[red]differs from the data code[/]'}")
        if not same:
            raise typer.Exit(1)
        return
    atomic_write_text(path, text)
    out.print(f"wrote {escape(str(path))}")


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")
