"""`cxrbench publish`: validate result records and add them to the leaderboard's store.

A record is accepted only when it is intact (schema version, content hash, predictions hash),
reproducible (every scored number is recomputed from its predictions file and the task's labels
held here, by the runner's own scoring function: the content hash is integrity, not
authentication, so a resealed record with edited numbers is caught only by this), complete (every eval set and label scored, its real-only comparison present) and agrees with the
shipped task (version, spec hash, split fingerprints) and with the records already published for
that task. Accepted records are copied byte for byte; their predictions go beside them. Then the
new record is compared with every other submission on the same task (paired tests, which need the
predictions) and the results are stored in the task's `pairwise.json` for the rank intervals.

Who computed a record decides where it stands (`standing.py`): a signature that does not verify
is refused, naming the field that changed; `verified` needs a trusted signer and held-out sets;
the rest is `self-reported`. The reference arm (the real-only baseline) must be the evaluator's
own (`baselines.py`), never whatever the predictions file holds. Held-out records are rescored
only where the publisher holds their key (`populations`); otherwise a trusted signature vouches
for them, and an untrusted held-out record is refused (nothing here could check its numbers).
`--arms-only` sets the reference arms from trusted signed runs without storing the records (the
dev arms of entries published before records were signed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from cxrbench.data.atomic import atomic_write_bytes as write_atomic
from cxrbench.data.file_digest import file_sha256
from cxrbench.errors import ConfigError, CxrbenchError
from cxrbench.leaderboard.baselines import ArmMacros, check_arm, register_arm
from cxrbench.leaderboard.loader import read_verified
from cxrbench.leaderboard.standing import VERIFIED, Standing, standing_of
from cxrbench.leaderboard.store import (
    PAIRWISE_FILE,
    pairwise_to_json,
    read_pairwise,
    record_files,
    record_path,
    submission_label,
    task_folder,
)
from cxrbench.leaderboard.trusted_keys import read_trusted
from cxrbench.reproducibility import check, same_submission
from cxrbench.results import Comparison, RecordError, ResultRecord, read_predictions, read_record
from cxrbench.trust.baseline_arm import reference_arm
from cxrbench.trust.populations import EvalPopulation
from cxrbench.trust.signing import check_signature


@dataclass(frozen=True)
class ExpectedTask:
    """What the shipped task says a record must carry. `split_fingerprints=None`: none shipped."""

    name: str
    version: int
    spec_sha256: str
    eval_sets: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    split_fingerprints: dict[str, str] | None = None
    family: str | None = None  # the task family: which submission kind fits it


@dataclass
class StoredRecord:
    record: ResultRecord
    path: Path  # the record's JSON file

    @property
    def predictions(self) -> Path | None:
        name = self.record.predictions_file
        return self.path.parent / name if name else None

    @property
    def entry(self) -> str:
        return submission_label(self.record.submission.name, self.record.submission.version)


@dataclass
class PublishReport:
    published: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source file, reason)
    notes: list[str] = field(default_factory=list)
    standings: dict[Path, Standing] = field(default_factory=dict)  # published record → where it stands

    @property
    def ok(self) -> bool:
        return not self.rejected


TaskResolver = Callable[[ResultRecord], ExpectedTask]
Comparer = Callable[[StoredRecord, StoredRecord], list[Comparison]]
#: (record, its file, its eval population) -> the first number that its predictions do not reproduce, or None
Rescorer = Callable[[ResultRecord, Path, EvalPopulation], "str | None"]


def recomputed_difference(record: ResultRecord, record_file: Path, population: EvalPopulation) -> str | None:
    """Recompute every scored number from the record's predictions and our own labels of its eval
    population (`cxrbench.runner.score_inputs`); the first field that differs, or None."""
    from cxrbench.runner.score_inputs import verify_numbers

    return verify_numbers(record, read_predictions(record, Path(record_file).parent), population)


# --------------------------------------------------------------------------------- validation
def shipped_task(record: ResultRecord) -> ExpectedTask:
    """The shipped task the record claims to be scored on (`cxrbench.tasking`); ConfigError if unknown."""
    from cxrbench import tasking

    spec = tasking.get_task(record.task.name)
    return ExpectedTask(name=spec.name, version=spec.version, spec_sha256=spec.sha256(),
                        eval_sets=tuple(spec.eval_sets), labels=tuple(spec.labels),
                        split_fingerprints=tasking.split_fingerprints(spec, record.task.budget), family=spec.family)


def check_against_task(record: ResultRecord, expected: ExpectedTask) -> list[str]:
    """Problems with a record relative to the task it claims (empty list: it agrees). A held-out
    record's eval sets carry keyed fingerprints: only its training, validation and pixel ones
    are compared with the shipped (public) fingerprints."""
    t = record.task
    problems = []
    if t.name != expected.name:
        problems.append(f"task {t.name!r} is not the shipped task {expected.name!r}")
    if t.version != expected.version:
        problems.append(f"task version {t.version} disagrees with the shipped {expected.name} version "
                        f"{expected.version} (rerun `cxrbench evaluate` with this release)")
    elif t.spec_sha256 != expected.spec_sha256:
        problems.append(f"task spec hash {t.spec_sha256[:12]}… disagrees with the shipped spec "
                        f"{expected.spec_sha256[:12]}… at the same version (the spec was edited locally)")
    if expected.family is not None:
        from cxrbench.tasking import kind_mismatch

        if (why := kind_mismatch(record.submission.kind, expected)) is not None:
            problems.append(f"submission kind {record.submission.kind!r} does not fit the task: {why}")
    if expected.labels and tuple(t.labels) != tuple(expected.labels):
        problems.append(f"labels {t.labels} differ from the task's {list(expected.labels)}")
    if expected.eval_sets:
        missing = [e for e in expected.eval_sets if e not in {s.eval_set for s in record.eval_sets}]
        if missing:
            problems.append(f"eval set(s) {missing} of the task are not scored")
    held_out = record.evaluation.eval_sets == "held-out"
    for key, want in (expected.split_fingerprints or {}).items():
        if held_out and key in expected.eval_sets:
            continue
        got = record.split_fingerprints.get(key)
        if key == "pixels" and got != want:
            problems.append("pixels fingerprint " + ("is missing" if got is None else f"is {got[:12]}…")
                            + f", the shipped task's is {want[:12]}…: the record was scored on images drawn by "
                            "another version of the phantom renderer (rerun `cxrbench evaluate` with this release)")
        elif got is None:
            problems.append(f"split fingerprint {key!r} is missing")
        elif got != want:
            problems.append(f"split fingerprint {key!r} is {got[:12]}…, the shipped split is {want[:12]}… "
                            f"(the record was scored on different data)")
    return problems


def check_complete(record: ResultRecord, record_file: Path) -> list[str]:
    """Problems that make a record incomplete: failed status, unscored eval sets or labels, no predictions."""
    if record.smoke_limit is not None:
        return [f"a smoke test (`cxrbench evaluate --limit {record.smoke_limit}`: at most {record.smoke_limit} images "
                f"per set) is never published; rerun without --limit"]
    if record.status != "complete":  # the rest would only list the consequences
        return [f"status is {record.status!r}" + (f": {record.errors[0]}" if record.errors else "")]
    problems = []
    if record.errors:
        problems.append(f"record lists {len(record.errors)} error(s), first: {record.errors[0]}")
    if not record.seeds:
        problems.append("no classifier seeds recorded")
    if not record.eval_sets:
        problems.append("no eval sets scored")
    for ev in record.eval_sets:
        if ev.macro_auroc is None:
            problems.append(f"eval set {ev.eval_set!r} has no macro AUROC")
        scored = {lab.label for lab in ev.labels}
        missing = [lab for lab in record.labels if lab not in scored]
        if missing:
            problems.append(f"eval set {ev.eval_set!r} lacks label scores for {missing}")
    foreign = [lab for lab in record.scored_labels if lab not in record.task.labels]
    if foreign:
        problems.append(f"scored on {foreign}, not labels of task {record.task.name}")
    if record.task.baseline:
        compared = {c.eval_set for c in record.comparisons if c.against == record.task.baseline}
        missing = [ev.eval_set for ev in record.eval_sets if ev.eval_set not in compared]
        if missing:
            problems.append(f"no comparison against the real-only baseline {record.task.baseline!r} "
                            f"on {missing}")
    if not record.predictions_file or not record.predictions_sha256:
        problems.append("no per-image predictions file named (needed for paired tests)")
    elif Path(record.predictions_file).name != record.predictions_file:
        problems.append(f"predictions_file {record.predictions_file!r} must be a file name beside the record")
    else:
        pred = Path(record_file).parent / record.predictions_file
        if not pred.is_file():
            problems.append(f"predictions file {pred} is missing (it must sit beside the record)")
        elif file_sha256(pred) != record.predictions_sha256:
            problems.append(f"predictions file {pred.name} does not match predictions_sha256 (altered or replaced)")
    return problems


def check_store_consistency(record: ResultRecord, peers: list[StoredRecord]) -> list[str]:
    """Records of one task in the store must share its spec hash and split fingerprints."""
    problems = []
    for peer in peers:
        p = peer.record
        if p.task.spec_sha256 != record.task.spec_sha256:
            problems.append(f"task spec hash differs from the published {peer.entry}")
        common = set(p.split_fingerprints) & set(record.split_fingerprints)
        bad = sorted(k for k in common if p.split_fingerprints[k] != record.split_fingerprints[k])
        if bad:
            problems.append(f"split fingerprint(s) {bad} differ from the published {peer.entry}")
        if problems:
            break
    return problems


# --------------------------------------------------------------------------------- pairwise tests
def default_comparer(populations: tuple[EvalPopulation, ...] = ()) -> Comparer:
    """`cxrbench.compare.compare_records` adapted to stored records. Held-out records are compared on
    their key's population, when `populations` holds it."""
    from cxrbench.compare import compare_records
    from cxrbench.runner.score_inputs import population_for

    def compare(a: StoredRecord, b: StoredRecord) -> list[Comparison]:
        population = population_for(a.record, populations)
        if population is None:
            raise CxrbenchError(f"the held-out labels of key {a.record.evaluation.evaluator_key} are not held here "
                                f"(publish with --evaluator-key to compute paired tests)")
        # each record's predictions sit in its own folder under the name the record gives
        return compare_records(a.record, b.record, a.path.parent, b.path.parent, population=population)

    return compare


def update_pairwise(new: StoredRecord, peers: list[StoredRecord], compare: Comparer) -> list[tuple[str, str]]:
    """Compare `new` with each peer on the same task and add the results to the task's pairwise.json,
    keeping every stored pair; a pair that cannot be computed is left out. Returns (peer, why) for those."""
    path = new.path.parent / PAIRWISE_FILE
    from cxrbench.leaderboard.standing import population_of

    data = read_pairwise(path) or {"task": new.record.task.name, "task_version": new.record.task.version,
                                   "budget": new.record.task.budget, "population": population_of(new.record),
                                   "pairs": []}
    pairs = [p for p in data["pairs"] if new.entry not in (p["a"], p["b"])]
    failed = []
    for peer in peers:
        try:
            comparisons = compare(new, peer)
        except Exception as exc:  # noqa: BLE001 - one pair's failure (a missing predictions file) costs that pair only
            failed.append((peer.entry, f"{type(exc).__name__}: {exc}"))
            continue
        pairs.append({"a": new.entry, "b": peer.entry, "a_sha256": new.record.content_sha256,
                      "b_sha256": peer.record.content_sha256, "comparisons": comparisons})
    data["pairs"] = pairs
    write_atomic(path, pairwise_to_json(data).encode())
    return failed


def fallback_note(new: StoredRecord, peers: list[StoredRecord], failed: list[tuple[str, str]]) -> str:
    """Exactly which paired tests of a newly published record could not be computed, and why."""
    why = "; ".join(f"vs {peer}: {reason}" for peer, reason in failed)
    return (f"{new.entry} on {new.record.task.name}: {len(peers) - len(failed)} of {len(peers)} paired tests computed "
            f"and stored; not computed ({why}); only those {len(failed)} pair(s) are ranked by bootstrap-CI overlap, "
            f"every other pair of the task by its stored paired test")


# --------------------------------------------------------------------------------- publish
def publish(files: list[Path], store: Path, *, resolve_task: TaskResolver = shipped_task,
            compare: Comparer | None | bool = True, rescore: Rescorer | None = recomputed_difference,
            populations: tuple[EvalPopulation, ...] = (), arms_only: bool = False) -> PublishReport:
    """Validate each record file and copy the good ones into `store`; see the module docstring.

    `compare=True` uses `cxrbench.compare`; pass a function to inject one, or False/None
    to skip the paired tests. `rescore` recomputes the record's numbers from its
    predictions (None skips that: only for fixtures whose numbers are made up). `populations`:
    the held-out populations whose keys the publisher holds (their records are rescored too).
    `arms_only`: each record, which must be signed by a trusted key, only sets its reference arm in
    `baselines.json` (a signed rerun of an entry published before it was signed); none is stored.
    """
    if arms_only:
        return _set_arms(files, Path(store), resolve_task, rescore, populations)
    report = PublishReport()
    comparer = default_comparer(populations) if compare is True else (compare or None)
    if comparer is None:
        report.notes.append("paired tests between submissions were not computed (skipped on request); the leaderboard "
                            "ranks these tasks by bootstrap-CI overlap")
    for file in map(Path, files):
        try:
            stored, standing = _publish_one(file, Path(store), resolve_task, rescore, populations, report.notes)
        except RecordError as exc:
            report.rejected.append((str(file), str(exc).replace(f"{file}: ", "")))
            continue
        report.published.append(stored.path)
        report.standings[stored.path] = standing
        peers = [p for p in _peers(stored.record, Path(store)) if p.path != stored.path]
        report.notes += [f"{stored.entry} on {stored.record.task.name}: a run of the same submission files as the "
                         f"published {p.entry}{_reproduction(stored.record, p.path, p.record)}"
                         for p in peers if same_submission(stored.record, p.record)]
        if comparer is not None and peers:
            failed = update_pairwise(stored, peers, comparer)
            if failed:  # the record stays published; only its uncomputed pairs fall back to CI overlap
                report.notes.append(fallback_note(stored, peers, failed))
    return report


@dataclass
class _Checked:
    """A record that passed every check but the store's, with what storing it needs."""

    record: ResultRecord
    standing: Standing
    table: pd.DataFrame  # its predictions
    macros: ArmMacros | None  # its reference arm's macro AUROC, where our labels allow


def _publish_one(file: Path, store: Path, resolve_task: TaskResolver, rescore: Rescorer | None,
                 populations: tuple[EvalPopulation, ...], notes: list[str]) -> tuple[StoredRecord, Standing]:
    checked = _checked(file, store, resolve_task, rescore, populations, notes, in_store=True)
    record, standing, table, macros = checked.record, checked.standing, checked.table, checked.macros
    target = record_path(store, record)
    entry = submission_label(record.submission.name, record.submission.version)
    arm = reference_arm(record)
    refusal, note = check_arm(store, record, table, macros)
    if refusal is not None:
        raise RecordError(refusal)
    # the predictions keep the name the (sealed) record gives them, beside the record
    write_atomic(target.parent / record.predictions_file, (file.parent / record.predictions_file).read_bytes())
    write_atomic(target, file.read_bytes())
    if standing.signer_name is not None and arm is not None and register_arm(store, record, table, entry, macros):
        # signed by a trusted key: its reference arm is the evaluator's own, and now the verified one
        note = f"reference arm {arm[0]} ({standing.population}) set from {entry} on {record.task.name}"
    if note is not None and note not in notes:  # one line per arm, not per record
        notes.append(note)
    return StoredRecord(record=record, path=target), standing


def _set_arms(files: list[Path], store: Path, resolve_task: TaskResolver, rescore: Rescorer | None,
              populations: tuple[EvalPopulation, ...]) -> PublishReport:
    """`publish(..., arms_only=True)`: each record's reference arm set in (or checked against)
    `baselines.json`; a record must be signed by a trusted key, since its arm becomes the evaluator's."""
    report = PublishReport()
    for file in map(Path, files):
        try:
            checked = _checked(file, store, resolve_task, rescore, populations, report.notes, in_store=False)
            record, standing = checked.record, checked.standing
            arm = reference_arm(record)
            if standing.signer_name is None:
                raise RecordError(f"only a record signed by a trusted key sets a reference arm; this one is "
                                  f"{standing.reason}")
            if arm is None:
                raise RecordError("it holds no reference arm (the real-only baseline)")
            refusal, note = check_arm(store, record, checked.table, checked.macros)
            if refusal is not None:  # an arm already set that this run does not reproduce
                raise RecordError(refusal)
            entry = submission_label(record.submission.name, record.submission.version)
            if register_arm(store, record, checked.table, entry, checked.macros):
                note = f"reference arm {arm[0]} ({standing.population}) set from {entry} on {record.task.name}"
            elif note is None:
                note = f"reference arm {arm[0]} ({standing.population}) is already set; {entry} on {record.task.name} matches it"
        except RecordError as exc:
            report.rejected.append((str(file), str(exc).replace(f"{file}: ", "")))
            continue
        report.notes.append(note)
    return report


def _checked(file: Path, store: Path, resolve_task: TaskResolver, rescore: Rescorer | None,
             populations: tuple[EvalPopulation, ...], notes: list[str], *, in_store: bool) -> _Checked:
    """Every check of a record (`in_store`: also that the store can take it); RecordError naming the problems."""
    record = read_record(file, verify=True)  # schema version + content hash
    check = check_signature(record)
    if check.status == "invalid":
        raise RecordError(f"signature by key {check.fingerprint} does not verify: {check.problem}")
    try:
        standing = standing_of(record, check, read_trusted(store))
    except ConfigError as exc:
        raise RecordError(f"the store's trusted keys are unreadable: {exc}") from None
    problems = check_complete(record, file)
    if record.status != "complete" or record.smoke_limit is not None:
        raise RecordError("; ".join(problems))
    try:
        expected = resolve_task(record)
    except ConfigError as exc:
        problems.append(str(exc))
    else:
        problems += check_against_task(record, expected)
    target = record_path(store, record)
    if in_store and target.exists():
        same = file_sha256(target) == file_sha256(file)
        raise RecordError(f"{record.key} ({record.task.budget}) is already published at {target}"
                          + (" (identical)" if same else
                             "; records are immutable: remove the old file in a pull request to replace it"
                             + _reproduction(record, target)))
    problems += check_store_consistency(record, _peers(record, store))
    if in_store and record.predictions_file and (target.parent / record.predictions_file).exists():
        problems.append(f"predictions file name {record.predictions_file!r} is already used in {target.parent}")
    if problems:
        raise RecordError("; ".join(problems))
    entry = submission_label(record.submission.name, record.submission.version)
    population: EvalPopulation | None = None  # whose labels score it here (None: not rescored)
    if rescore is not None:
        from cxrbench.runner.score_inputs import population_for

        population = population_for(record, populations)
        if population is None and standing.standing != VERIFIED:
            raise RecordError(f"scored on the held-out sets of key {record.evaluation.evaluator_key}, whose labels are "
                              f"not held here, and {standing.reason}: nothing could check its numbers")
        if population is None:
            notes.append(f"{entry} on {record.task.name}: numbers not recomputed here (held-out labels of key "
                         f"{record.evaluation.evaluator_key}); its trusted signature vouches for them")
        else:
            try:
                diff = rescore(record, file, population)
            except (CxrbenchError, OSError, ValueError) as exc:  # unreadable predictions, missing labels
                diff = f"cannot be recomputed ({exc})"
            if diff is not None:
                raise RecordError(f"numbers do not follow from the record's predictions: {diff}")
        from cxrbench.runner.population import population_difference

        try:  # the group a submission is ranked in, from its declaration and our own task rows
            diff = population_difference(record)
        except CxrbenchError as exc:
            diff = f"cannot be recomputed ({exc})"
        if diff is not None:
            raise RecordError(f"training population: {diff}")
    table = read_predictions(record, Path(file).parent)
    arm = reference_arm(record)
    macros = None  # the reference arm's macro AUROC from its predictions, where our labels allow
    if population is not None and arm is not None:
        from cxrbench.runner.score_inputs import arm_macros

        try:
            macros = arm_macros(record, table, population, arm[1])
        except (CxrbenchError, ValueError) as exc:
            raise RecordError(f"its reference arm cannot be scored ({exc})") from None
    return _Checked(record, standing, table, macros)


def _reproduction(record: ResultRecord, published_file: Path, published: ResultRecord | None = None) -> str:
    """`; reproduction: ...` (the contract's check against a published run of the same submission), or ''."""
    try:
        published = published or read_record(published_file)
    except RecordError:
        return ""
    if not same_submission(record, published):
        return ""
    return "; reproduction: " + " | ".join(check(record, published).lines())


def _peers(record: ResultRecord, store: Path) -> list[StoredRecord]:
    """The intact records already published for the same task@version, budget and eval population
    (the dev folder also holds the held-out folders: those are other test patients)."""
    from cxrbench.leaderboard.standing import population_of

    folder, out = task_folder(store, record), []
    for path in record_files(folder):
        if path.parent != folder:
            continue
        try:
            peer = read_verified(path)
        except RecordError:
            continue
        if population_of(peer) == population_of(record):
            out.append(StoredRecord(peer, path))
    return out


