"""`cxrbench reproduce`: regenerate a record's per-image predictions from its task, submission and seeds.

Published records ship without their predictions (tens of MB per record at the quick budget; more
than a repository should hold, even as float16). A record names everything that made them: the
task (name, version, spec hash), the submission (name, version, content hash), the budget and the
classifier seeds; every stage is seeded. So `reproduce` re-runs `evaluate` for exactly that, in a
folder of its own, and accepts the new predictions under the reproducibility contract
(`cxrbench.reproducibility`, docs/reproducibility.md):

- their sha256 is the record's `predictions_sha256` (bit-identical: same machine and software), or
- on another CPU, instruction set, thread count or library build, every macro AUROC and Δ of the
  new run is within the contract's tolerance of the record's;

then writes them beside the record under the name it gives, which is what `cxrbench compare` needs
(it checks a file whose sha256 differs the same way, `within_contract`). Anything else is a
CxrbenchError naming each figure beyond its tolerance, with both values and both environments.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from cxrbench.data.atomic import atomic_write_bytes
from cxrbench.errors import CxrbenchError
from cxrbench.results import ResultRecord, read_record

#: where submissions/ lives in a checkout (benchmark/cxrbench/reproduce.py → the repository root)
CHECKOUT_SUBMISSIONS = Path(__file__).resolve().parents[2] / "submissions"


@dataclass
class Reproduction:
    record: Path
    predictions: Path  # written beside the record
    identical: bool  # sha256 equal to the record's
    note: str


def find_submission(record: ResultRecord, folder: Path | None = None) -> Path:
    """The submission folder whose content hash is the record's (given, or `submissions/<name>`)."""
    from cxrbench.submissions import load_submission

    want = record.submission.sha256
    candidates = [Path(folder)] if folder else [Path("submissions") / record.submission.name,
                                                CHECKOUT_SUBMISSIONS / record.submission.name]
    seen = []
    for path in candidates:
        if not (path / "submission.yaml").is_file():
            continue
        got = load_submission(path).sha256()
        if got == want:
            return path
        seen.append(f"{path} (sha256 {got[:12]}…)")
    where = "; ".join(seen) if seen else f"no folder {candidates[0]}"
    raise CxrbenchError(f"{record.key}: needs submission {record.submission.name}@{record.submission.version} with "
                        f"sha256 {want[:12]}…: {where}; pass --submission DIR, or check out the release that wrote "
                        f"the record (git {record.environment.git_sha or 'unknown'})")


def _seeds(record: ResultRecord, spec) -> list[int]:
    """The classifier seeds the record's arms were trained on (a frozen classifier's record lists its one
    set of predictions as seed 0; its baseline's seeds are the budget's first `n_seeds_against`)."""
    if record.submission.kind == "classifier" and not record.submission.fits and record.comparisons:
        n = record.comparisons[0].n_seeds_against
        first = list(spec.budget(record.task.budget).seeds)
        return (first + [s for s in range(1000) if s not in first])[:n]
    return list(record.seeds)


def within_contract(record: ResultRecord, table) -> str | None:
    """None when `table` (predictions regenerated for `record`) gives each figure of the contract, every
    macro AUROC and Δ, within its tolerance of the record's; else the first one beyond it."""
    from cxrbench.reproducibility import AUROC_FLOOR, figures, tolerance
    from cxrbench.runner.score_inputs import against_for, label_sets, population_for, rescore
    from cxrbench.tasking import get_task

    spec = get_task(record.task.name)
    budget = spec.budget(record.task.budget)
    population = population_for(record)
    if population is None:
        return f"{record.key} was scored on held-out sets: only their evaluator can recompute it"
    scored = rescore(record, table, label_sets(spec, budget, population),
                     against=against_for(spec, budget, record.submission.kind),
                     primary_eval_set=spec.primary.eval_set, eligibility=spec.eligibility)
    again = figures(record.model_copy(update={"eval_sets": scored.eval_sets, "comparisons": scored.comparisons}))
    for name, value in figures(record).items():
        if name not in again:
            return f"{name}: record {value.value:.4f}, these predictions none"
        # the seed noise of two runs like the record's (the new table's own spread must not widen it)
        limit = tolerance(value, value)
        limit = AUROC_FLOOR if limit is None else limit  # no seed spread (one seed): the contract's floor
        if abs(again[name].value - value.value) > limit:
            return (f"{name}: record {value.value:.4f}, these predictions {again[name].value:.4f} "
                    f"(tolerance {limit:.4f})")
    return None


def reproduce(record_file: Path, *, submission: Path | None = None, cache_root: Path | None = None,
              device: str = "cpu", jobs: int = 1, threads: int = 1, unsafe_no_sandbox: bool = False,
              console=None) -> Reproduction:
    """Regenerate the predictions of the record at `record_file` and write them beside it (see module doc)."""
    from cxrbench.reproducibility import check
    from cxrbench.runner.evaluate import RunOptions, evaluate
    from cxrbench.tasking import get_task

    record_file = Path(record_file)
    record = read_record(record_file)
    if record.status != "complete" or not record.predictions_file:
        raise CxrbenchError(f"{record_file}: only a complete record with a predictions file can be reproduced")
    if record.evaluation.eval_sets != "dev":
        raise CxrbenchError(f"{record_file}: scored on held-out eval sets, which only their evaluator can draw; "
                            f"`reproduce` regenerates records scored on the public dev sets")
    spec = get_task(record.task.name)
    if spec.version != record.task.version or spec.sha256() != record.task.spec_sha256:
        raise CxrbenchError(f"{record_file}: task {record.task.name} here is version {spec.version}, the record's is "
                            f"version {record.task.version} (or its spec differs); check out the release that wrote it "
                            f"(git {record.environment.git_sha or 'unknown'})")
    folder = find_submission(record, submission)
    with tempfile.TemporaryDirectory(prefix="cxrbench-reproduce-") as tmp:
        opts = RunOptions(budget=record.task.budget, seeds=_seeds(record, spec), out_dir=Path(tmp), cache_root=cache_root,
                          device=device, jobs=jobs, threads=threads, profile=record.task.profile,
                          unsafe_no_sandbox=unsafe_no_sandbox)
        kwargs = {"console": console} if console is not None else {}
        outcome = evaluate(folder, [record.task.name], opts, **kwargs)[0]
        if outcome.record.status != "complete" or not outcome.record.predictions_file:
            raise CxrbenchError(f"{record_file}: the rerun failed: {'; '.join(outcome.record.errors)}")
        agreement = check(record, outcome.record)
        if not agreement.ok:
            raise CxrbenchError(f"{record_file}: not reproduced: {'; '.join(agreement.lines())}")
        fresh = outcome.path.parent / outcome.record.predictions_file
        target = record_file.parent / record.predictions_file
        atomic_write_bytes(target, fresh.read_bytes())
    return Reproduction(record_file, target, agreement.identical_predictions, agreement.lines()[0])
