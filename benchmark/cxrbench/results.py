"""ResultRecord: the JSON written for one (task, submission). The leaderboard reads only these.

A record is self-describing and tamper-evident: it carries the task's version and hash, the split
fingerprints it was scored on, the submission's hash, the code and library versions, the seeds,
and a sha256 over its own canonical JSON (`content_sha256`), which `verify()` recomputes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from cxrbench.data.atomic import atomic_write_bytes
from cxrbench.errors import CxrbenchError, pydantic_problems
from cxrbench.tasking import Family
from cxrbench.training_population import Group, TrainingSource

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from cxrbench.trust.keys import EvaluatorKey

#: 2: one inference procedure (seed mean over training seeds, patients and seeds both varying) behind
#: every figure; primary / secondary endpoints; label eligibility; minimum detectable effects.
#: 3 (additive): the submission's description, paper, links and parameter count (counted by cxrbench
#: from its safetensors headers); the measured cost of generating the synthetic set (`generation`).
#: 4 (additive): `evaluation`, the eval populations a record was scored on (public `dev` sets, or
#: `held-out` sets derived from an evaluator key, named by the key's public fingerprint).
#: 5 (additive): the declared training population (`training_population`, `real_patients`), the
#: task's own real patients and the group they put the submission in; the task's ranking rule for it.
#: 6 (additive): `scored_labels`, the labels a classifier was scored on (those of the task's it
#: predicts); `generation[].set_images`, the size of a generated replica (a resumed run measures only
#: its part); `smoke_limit`, the images per set of a `--limit` smoke test (never publishable).
#: 7 (additive): why a comparison's verdict is what it is (`verdict_reason`: no test with too few
#: seeds, zero variance); whether the benchmark trained a classifier submission per seed (`fits`).
#: Comparisons of version-7 records test at the seed spread's degrees of freedom, with an MDE from
#: the test's power (docs/stats.md); earlier records used Welch–Satterthwaite and (t + t)·se.
SCHEMA_VERSION = 7
#: versions `read_record` accepts. Later versions only add fields (`ADDED_IN`): an older record
#: reads with their defaults and hashes without them, so it still verifies.
READABLE_SCHEMAS = (2, 3, 4, 5, 6, 7)
#: the fields each version added, as (section or None for the record itself, field); a section
#: ending in "[]" is a list whose every item gained the field
ADDED_IN: dict[int, tuple[tuple[str | None, str], ...]] = {
    3: (("submission", "description"), ("submission", "paper"), ("submission", "links"),
        ("submission", "parameters"), ("submission", "parameter_files"), (None, "generation")),
    4: ((None, "evaluation"),),
    5: (("submission", "training_population"), ("submission", "real_patients"),
        ("submission", "task_real_patients"), ("submission", "data_group"), ("task", "more_real_data")),
    6: ((None, "scored_labels"), ("generation[]", "set_images"), (None, "smoke_limit")),
    7: (("comparisons[]", "verdict_reason"), ("submission", "fits")),
}


def later_parts(record: Any, section: str | None) -> list[Any]:
    """Where a field of `ADDED_IN` lives in `record` (a model or its JSON dict): the record itself,
    one section, or each item of a list section (`generation[]`)."""
    def get(obj: Any, name: str) -> Any:  # a section an even older version lacks is already gone from the JSON
        return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)

    if section is None:
        return [record]
    part = get(record, section.removesuffix("[]"))
    return [] if part is None else list(part) if section.endswith("[]") else [part]


def drop_later_fields(record: "ResultRecord", payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` (the record as JSON) without the fields its schema version does not have."""
    for section, name in record._later_fields():
        for part in later_parts(payload, section):
            part.pop(name, None)
    return payload


#: envelope fields: about the sealed content, never part of it (nor of `content_sha256`)
ENVELOPE = ("content_sha256", "signature")


class RecordError(CxrbenchError):
    """A result record is malformed, incomplete or has been altered since it was written."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TaskRef(_Model):
    name: str  # e.g. "phantom/supplement-100"
    version: int
    family: Family
    profile: str  # data profile: phantom | chexpert | mimic | csv
    budget: str  # quick | standard
    supplement_ratio: int  # N in N%; 0 for the real-only baseline
    label_set: str
    labels: list[str]
    uncertainty_policy: str
    image_size: int
    recipe: str  # classifier recipe name@version
    baseline: str | None  # the real-only task this one is compared against
    spec_sha256: str
    #: v5: rank generators trained on more real patients than the task's own rows apart ("separate")
    more_real_data: Literal["separate", "together"] = "separate"


#: a link a reader may follow: a plain http(s) URL (nothing that could break out of a Markdown link)
PLAIN_URL = re.compile(r"^https?://[^\s<>()\[\]{}\"'`\\]{1,290}$")
LINK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,39}$")


def check_url(url: str, what: str) -> str:
    """`url` if it is a plain http(s) URL; ValueError naming `what` otherwise."""
    if not PLAIN_URL.match(url):
        raise ValueError(f"{what} {url!r} is not a plain http(s) URL (e.g. https://arxiv.org/abs/...)")
    return url


def check_links(links: dict[str, str]) -> dict[str, str]:
    """Named links (`code: https://...`): short plain names, plain http(s) URLs, at most 8."""
    if len(links) > 8:
        raise ValueError(f"{len(links)} links; give at most 8")
    for name, url in links.items():
        if not LINK_NAME.match(name):
            raise ValueError(f"link name {name!r}: up to 40 letters, digits, spaces or . _ + - (e.g. code)")
        check_url(url, f"link {name!r}:")
    return links


class SubmissionRef(_Model):
    name: str
    version: str
    kind: Literal["generator", "classifier"]
    sha256: str  # over the submission directory's files
    authors: list[str] = []
    license: str | None = None
    declared_training_data: list[str] = []
    training_data_within_bounds: bool = True
    bounds_note: str | None = None
    # v3: what a reader needs first, from submission.yaml (links are plain http(s) URLs, checked there)
    description: str = ""
    paper: str | None = None
    links: dict[str, str] = {}
    #: tensor elements over the folder's safetensors files, counted by cxrbench (None: no weights shipped)
    parameters: int | None = None
    parameter_files: dict[str, int] = {}
    # v5: what it learned from (`cxrbench.training_population`), as declared and checked
    training_population: list[TrainingSource] = []
    real_patients: int | None = None  # declared real patients, summed over `training_population`
    task_real_patients: int | None = None  # patients of the real rows the task lets it learn from
    data_group: Group | None = None  # task rows | more real data | outside bounds | no real data
    #: v6: a classifier that the benchmark trains on the task's real rows, once per classifier seed
    #: (False: a frozen classifier, one fixed model, or a generator)
    fits: bool = False

    @field_validator("paper")
    @classmethod
    def _paper(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v, "paper")

    @field_validator("links")
    @classmethod
    def _links(cls, v: dict[str, str]) -> dict[str, str]:
        return check_links(v)


class Environment(_Model):
    cxrbench_version: str
    git_sha: str | None
    python: str
    platform: str
    libraries: dict[str, str]
    hardware: dict[str, Any]
    #: how submission code was isolated: {"mode": "bubblewrap" | "none" | "no submission code", ...}
    #: (`cxrbench.submissions.sandbox.isolation`); "none" only with --unsafe-no-sandbox
    isolation: dict[str, Any] = {}


class LabelScore(_Model):
    """One label on one eval set: seed-mean AUROC with its CI (same construction as the macro)."""

    label: str
    auroc: float | None  # seed mean; None when undefined (one class only)
    ci_low: float | None = None
    ci_high: float | None = None
    n: int
    n_pos: int
    positive_patients: int = 0
    negative_patients: int = 0
    in_macro: bool = False  # eligible for the eval set's macro (enough positive and negative patients)
    undefined_reason: str | None = None


class ExcludedLabel(_Model):
    label: str
    positive_patients: int
    negative_patients: int


class EvalSetScore(_Model):
    """One eval set: the seed-mean macro AUROC over the labels eligible on it, with its CI."""

    eval_set: str  # internal_test | external:site-b | ...
    site: str
    n_images: int
    n_patients: int
    macro_auroc: float | None  # mean over training seeds of the macro over `macro_labels`
    macro_ci_low: float | None = None  # patients and seeds both varying (see `method`)
    macro_ci_high: float | None = None
    macro_se: float | None = None
    per_seed_macro_auroc: list[float | None] = []
    seed_sd: float | None = None  # sd over seeds of the per-seed macro AUROC
    macro_labels: list[str] = []
    excluded_labels: list[ExcludedLabel] = []
    labels: list[LabelScore] = []
    method: str = ""


class LabelDelta(_Model):
    """Δ of one label (seed means, A − B), with CI and p from the same construction as the macro."""

    label: str
    auroc: float | None
    baseline_auroc: float | None
    delta: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None
    p_holm: float | None  # Holm over the labels of this eval set
    significant: bool = False  # p_holm < alpha


Verdict = Literal["better", "worse", "no_detectable_difference", "inconclusive"]
Endpoint = Literal["primary", "secondary"]


def stars(p: float | None) -> str:
    """The one star convention of every surface: *** p < 0.001, ** p < 0.01, * p < 0.05."""
    if p is None or not math.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


class Comparison(_Model):
    """This record against another (its task's real-only baseline, or a second submission)."""

    eval_set: str
    against: str  # task or submission the delta is taken against
    endpoint: Endpoint = "secondary"
    metric: str = "macro_auroc"
    estimand: str = "seed_mean_delta"
    delta: float | None  # seed-mean macro AUROC of A − of B
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    dof: float | None = None  # None = infinite (normal)
    var_test: float | None = None
    var_seed: float | None = None
    mde: float | None = None  # minimum detectable effect, 80% power, alpha 0.05, this design
    alpha: float = 0.05
    significant: bool = False
    verdict: Verdict = "inconclusive"
    #: v4: why, when that is not the test itself: no test (too few seeds, zero variance), no eligible label
    verdict_reason: str | None = None
    n_seeds: int = 0
    n_seeds_against: int = 0
    paired_seeds: bool = False
    macro_labels: list[str] = []
    method: str
    labels: list[LabelDelta] = []
    significant_labels: list[str] = []

    @property
    def stars(self) -> str:
        return stars(self.p_value)


class SubgroupScore(_Model):
    eval_set: str
    attribute: str  # sex | age_band | race | view | site
    group: str
    n: int
    n_patients: int = 0
    n_pos: int
    macro_auroc: float | None  # seed mean over the labels eligible in this group (`n_labels` of them)
    ci_low: float | None = None
    ci_high: float | None = None
    n_labels: int = 0
    macro_labels: list[str] = []
    undefined_reason: str | None = None


class SubgroupSummary(_Model):
    """Worst and best group of one attribute, compared on the labels eligible in every compared group."""

    eval_set: str
    attribute: str
    worst_group: str | None
    worst_macro_auroc: float | None
    best_group: str | None = None
    best_macro_auroc: float | None = None
    largest_gap: float | None
    compared_groups: list[str] = []
    common_labels: list[str] = []
    reason: str | None = None  # why no worst group is named


class GenerationRun(_Model):
    """How one replica of the synthetic set was made, measured when it was generated and kept in
    its cache entry (`cxrbench.runner.generate`), so a record that reuses the set still carries it."""

    replica: int
    images: int  # images the measured run generated (a run resumed after a crash counts only its own)
    set_images: int | None = None  # v6: images in the replica (more than `images` when the run resumed)
    seconds: float  # wall time of the submission's process for them, model loading included
    images_per_second: float
    device: str  # "GPU <name>" or "CPU (<n> thread(s))"
    generated_at: str  # when (UTC, ISO 8601)
    reused: bool = False  # served from the cache on this record's run (generated earlier, at `generated_at`)


class PrivateFingerprint(_Model):
    """All a record holds of a private eval set: counts and a hash only the key holder can reproduce."""

    n_images: int
    n_patients: int
    keyed_sha256: str  # HMAC-SHA256 (key-derived) of its sorted (patient, image) ids


class Evaluation(_Model):
    """Which eval populations the record was scored on (`cxrbench.trust.populations`)."""

    #: `dev`: the public populations, reproducible by anyone; `held-out`: drawn from (phantom) or
    #: named by (private sets) an evaluator key that never leaves the evaluator
    eval_sets: Literal["dev", "held-out"] = "dev"
    evaluator_key: str | None = None  # the key's public fingerprint; the key itself is never recorded
    private_eval_sets: dict[str, PrivateFingerprint] = {}


class RecordSignature(_Model):
    """The evaluator's ed25519 signature over the sealed record (`cxrbench.trust.signing`).

    `fields` maps each top-level field to the sha256 of its canonical JSON, so a verifier names the
    field that changed; the signature covers `fields`, `public_key` and `algorithm`."""

    algorithm: Literal["ed25519"] = "ed25519"
    public_key: str  # raw 32-byte ed25519 public key, base64
    key_fingerprint: str
    fields: dict[str, str]
    signature: str  # base64


class StageTiming(_Model):
    stage: str
    seconds: float
    cached: bool = False
    #: what happened to the stage's jobs on any node: retries, lease takeovers, corrupt entries,
    #: entries another worker built. Left out of the JSON when empty, so records written before
    #: it existed hash as they were written.
    events: list[str] = []

    @model_serializer(mode="wrap")
    def _without_empty_events(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if not data.get("events"):
            data.pop("events", None)
        return data


class ResultRecord(_Model):
    schema_version: int = SCHEMA_VERSION
    status: Literal["complete", "failed"]
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    task: TaskRef
    submission: SubmissionRef
    split_fingerprints: dict[str, str]
    seeds: list[int]
    environment: Environment
    eval_sets: list[EvalSetScore] = []
    comparisons: list[Comparison] = []
    subgroups: list[SubgroupScore] = []
    subgroup_summaries: list[SubgroupSummary] = []
    audit: dict[str, Any] | None = None
    timings: list[StageTiming] = []
    generation: list[GenerationRun] = []  # v3; empty when nothing was generated or it was not measured
    errors: list[str] = []
    evaluation: Evaluation = Field(default_factory=Evaluation)  # v4
    #: v6: the labels it was scored on, in the task's order: the task's, or those of them a classifier
    #: predicts (empty in older records: the task's)
    scored_labels: list[str] = []
    #: v6: `--limit N`: a smoke test on N images per set (its numbers mean nothing; never publishable)
    smoke_limit: int | None = None
    predictions_file: str | None = None  # parquet beside the record: image_id, eval_set, seed, label probs
    predictions_sha256: str | None = None
    content_sha256: str = ""
    signature: RecordSignature | None = None  # envelope: added after sealing, by the evaluator that computed it

    # ----------------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        """One record per (task@version, submission@version)."""
        return f"{self.task.name}@{self.task.version}::{self.submission.name}@{self.submission.version}"

    @property
    def labels(self) -> list[str]:
        """The labels this record was scored on (its predictions table holds one column for each)."""
        return list(self.scored_labels or self.task.labels)

    def macro(self, eval_set: str) -> float | None:
        for s in self.eval_sets:
            if s.eval_set == eval_set:
                return s.macro_auroc
        return None

    def compute_sha256(self) -> str:
        payload = drop_later_fields(self, self.model_dump(mode="json", exclude=set(ENVELOPE)))  # as its version wrote it
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _later_fields(self) -> list[tuple[str | None, str]]:
        return [f for version, added in ADDED_IN.items() if version > self.schema_version for f in added]

    def seal(self) -> "ResultRecord":
        self.content_sha256 = self.compute_sha256()
        return self

    def verify(self) -> None:
        """Raise RecordError when the stored hash does not match the content (edited by hand)."""
        if self.schema_version not in READABLE_SCHEMAS:
            raise RecordError(f"schema_version {self.schema_version} is not one of the supported {READABLE_SCHEMAS}")
        for section, name in self._later_fields():  # unhashed there, so they must hold their defaults
            for model in later_parts(self, section):
                if getattr(model, name) != type(model).model_fields[name].get_default(call_default_factory=True):
                    raise RecordError(f"{'.'.join(filter(None, (section, name)))} is set, but schema_version "
                                      f"{self.schema_version} records have no such field")
        if not self.content_sha256:
            raise RecordError("record has no content_sha256 (it was never sealed)")
        if self.compute_sha256() != self.content_sha256:
            raise RecordError("content_sha256 does not match the record's content: it was altered after it was written")

    def to_json(self) -> str:
        payload = self.model_dump(mode="json")
        if payload["signature"] is None:  # an unsigned record reads as it did before signatures existed
            del payload["signature"]
        drop_later_fields(self, payload)  # an older record keeps its own version's fields
        return json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n"


_UNSAFE_IN_PATH = re.compile(r"[^A-Za-z0-9._@+=-]")


def _path_part(part: str) -> str:
    return _UNSAFE_IN_PATH.sub("_", part.replace("/", "__"))


def task_folder(root: Path, record: ResultRecord) -> Path:
    """The folder of one task (at one version and budget) and eval population in a results folder:
    held-out records live one level deeper, in `held-out-<key fingerprint>/` (other test patients)."""
    task = record.task
    short = task.name[len(task.profile) + 1:] if task.name.startswith(task.profile + "/") else task.name
    folder = Path(root) / _path_part(task.profile) / _path_part(task.budget) / f"{_path_part(short)}@{task.version}"
    if record.evaluation.eval_sets == "held-out":
        folder = folder / f"held-out-{_path_part(record.evaluation.evaluator_key or 'unknown')}"
    return folder


def record_path(root: Path, record: ResultRecord) -> Path:
    """Where a record lives in a results folder (`cxrbench evaluate --out` and the leaderboard's store
    alike): `<profile>/<budget>/<task>@<task version>/<submission>@<version>.json`, `<task>` being the
    task name without its profile prefix (any other '/' written as '__'). The budget is part of the
    path because `quick` and `standard` numbers of one task are not comparable."""
    sub = record.submission
    return task_folder(root, record) / f"{_path_part(sub.name)}@{_path_part(sub.version)}.json"


def write_record(record: ResultRecord, path: Path, *, signer: EvaluatorKey | None = None) -> Path:
    """Seal and write a record atomically (temp file + fsync + rename); `signer` (an evaluator key,
    `cxrbench.trust.keys`) signs it after sealing."""
    record.seal()
    if signer is not None:
        from cxrbench.trust.signing import sign_record

        sign_record(record, signer)
    atomic_write_bytes(Path(path), record.to_json().encode())
    return Path(path)


def read_record(path: Path, *, verify: bool = True) -> ResultRecord:
    """Read and validate a record; RecordError names the file and the problem."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordError(f"{path}: no such record file") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(raw, dict) and raw.get("schema_version") not in (None, *READABLE_SCHEMAS):
        raise RecordError(f"{path}: schema_version {raw.get('schema_version')} is not one of the supported "
                          f"{READABLE_SCHEMAS}")
    try:
        record = ResultRecord.model_validate(raw)
    except ValidationError as exc:
        raise RecordError(f"{path}: {pydantic_problems(exc)}") from None
    if verify:
        try:
            record.verify()
        except RecordError as exc:
            raise RecordError(f"{path}: {exc}") from None
    return record


def read_predictions(record: ResultRecord, folder: Path, *,
                     regenerated: "Callable[[pd.DataFrame], str | None] | None" = None) -> "pd.DataFrame":
    """The per-image predictions table a record names (in `folder`, beside the record), checked
    against the sha256 the record carries; RecordError when it is missing or altered.

    `regenerated(table) -> str | None`: accepts a file whose sha256 differs (predictions that
    `cxrbench reproduce` regenerated) when it returns None: the first difference otherwise."""
    import io

    import pandas as pd

    if not record.predictions_file:
        raise RecordError(f"{record.key}: record has no predictions file (failed run?)")
    path = Path(folder) / record.predictions_file
    if not path.is_file():
        raise RecordError(f"{path}: predictions file named by {record.key} is missing; regenerate it with "
                          f"`cxrbench reproduce {path.parent / (path.name.removesuffix('.predictions.parquet') + '.json')}`")
    data = path.read_bytes()
    table = pd.read_parquet(io.BytesIO(data))
    if record.predictions_sha256 and hashlib.sha256(data).hexdigest() != record.predictions_sha256:
        if regenerated is None:
            raise RecordError(f"{path}: sha256 does not match the record (altered or from another run)")
        if (diff := regenerated(table)) is not None:
            raise RecordError(f"{path}: sha256 does not match the record, and the file does not give its numbers "
                              f"({diff}); regenerate it with `cxrbench reproduce`")
    return table
