"""TaskSpec: one versioned benchmark task, declared in `tasks/cxrbench/tasks/*.yaml` and validated here.

A YAML file declares a task *family* on one data profile and the supplementation ratios it
covers; `load_tasks()` expands it into one TaskSpec per ratio (`phantom/supplement-100`, ...).
Every field that changes a number in a result is part of the spec's sha256, and the spec's
`version` must be bumped when any of them changes (the leaderboard rejects a record whose task
version or hash disagrees with the shipped spec).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cxrbench.errors import ConfigError, load_yaml_model
from cxrbench.schema import LABEL_SETS

#: the task families, in the order the leaderboard shows them
Family = Literal["supplement", "synthetic_only", "cross_source", "real_only"]
FAMILIES: tuple[str, ...] = get_args(Family)
SyntheticSets = Literal["shared", "per_seed"]
LabelSetName = Literal["all14", "competition5", "nih10"]  # the names of cxrbench.schema.LABEL_SETS
ALLOWED_RATIOS = (0, 100, 200, 300, 500, 1000)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataRef(_Strict):
    """One slice of a source: which dataset, which site, which frozen split."""

    source: str = "phantom"
    site: str | None = None
    split: Literal["train", "val", "test"] = "train"

    @property
    def key(self) -> str:
        return f"{self.source}/{self.site or 'all'}/{self.split}"


class Budget(_Strict):
    """How much compute a run gets: `quick` (CPU, minutes) or `standard` (GPU)."""

    image_size: int = Field(ge=32, le=512)
    recipe: str
    seeds: list[int] = Field(min_length=1)
    ratios: list[int] | None = None  # subset of the family's ratios run by default at this budget
    n_patients: int | None = Field(default=None, ge=10)  # phantom: patients drawn per site (train/val)
    #: phantom: patients drawn per site for the test splits (patient k is the same whatever the
    #: count, and the split is a hash of the patient id, so test patients never meet training ones);
    #: test films are cheap to render and decide the power of every comparison
    n_eval_patients: int | None = Field(default=None, ge=10)
    #: phantom: patients drawn for the named eval sets instead of `n_eval_patients` (e.g. a larger
    #: internal test set, where the primary endpoint is scored)
    eval_patients: dict[str, int] = Field(default_factory=dict)
    max_train_images: int | None = Field(default=None, ge=10)
    max_val_images: int | None = Field(default=None, ge=10)
    max_eval_images: int | None = Field(default=None, ge=10)
    #: the primary endpoint's minimum detectable effect this budget is designed for (80% power,
    #: alpha 0.05); `cxrbench tasks show` flags a budget whose design MDE exceeds it
    target_mde: float | None = Field(default=None, gt=0, lt=1)
    generator_timeout_s: int = Field(default=1800, ge=10)
    classifier_timeout_s: int = Field(default=1800, ge=10)
    memory_limit_gb: float = Field(default=16, gt=0)

    @field_validator("eval_patients")
    @classmethod
    def _eval_patients(cls, v: dict[str, int]) -> dict[str, int]:
        small = {k: n for k, n in v.items() if n < 10}
        if small:
            raise ValueError(f"eval_patients {small}: at least 10 patients per eval set")
        return v

    def for_eval_set(self, name: str) -> "Budget":
        """This budget as eval set `name` is drawn at (its own patient count, if it has one)."""
        if name not in self.eval_patients:
            return self
        return self.model_copy(update={"n_eval_patients": self.eval_patients[name]})


class Endpoint(_Strict):
    """The one primary endpoint of a task: what decides "does this generator help?"."""

    eval_set: str = "internal_test"
    metric: Literal["macro_auroc"] = "macro_auroc"
    #: mean over classifier training seeds of the submission's macro AUROC minus the baseline's
    estimand: Literal["seed_mean_delta"] = "seed_mean_delta"


class EligibilityRule(_Strict):
    """A label enters an eval set's macro only with this many positive and negative patients there."""

    min_positive_patients: int = Field(default=20, ge=1)
    min_negative_patients: int = Field(default=20, ge=1)


class _TaskDefinition(_Strict):
    """The fields a family file declares and every task expanded from it carries unchanged."""

    version: int = Field(ge=1)
    family: Family
    description: str
    profile: str
    real_train: DataRef | None  # real images the classifier trains on (None: synthetic only)
    conditions_from: DataRef | None  # training rows that condition the generator
    val: DataRef
    eval_sets: dict[str, DataRef]
    label_set: LabelSetName = "all14"  # cxrbench.schema.LABEL_SETS
    scoring_uncertainty: Literal["ignore"] = "ignore"  # the study's policy: drop -1 per label
    train_uncertainty: Literal["ignore", "zeros", "ones"] = "zeros"  # cxrbench.schema.UNCERTAINTY_POLICIES
    generation_seed: int = 0
    #: which synthetic images each classifier seed trains on: `shared` (every seed the same set:
    #: inference conditional on that set) or `per_seed` (seed s its own set, replicas
    #: s·R … s·R + R − 1 of the same replica stream: the seed spread then holds the set-to-set
    #: variance, so a comparison answers for the generator, not for one draw of its images)
    synthetic_sets: SyntheticSets = "shared"
    primary: Endpoint = Endpoint()
    eligibility: EligibilityRule = EligibilityRule()
    budgets: dict[str, Budget]
    superseded_by: str | None = None
    #: generators declaring more real patients than the task's own rows: ranked in their own group
    #: ("separate", the default) or with the rest ("together"); how records are ranked, not scored
    more_real_data: Literal["separate", "together"] = "separate"


class TaskFamilyFile(_TaskDefinition):
    """The YAML schema of one file in tasks/: a family over several supplementation ratios."""

    name: str  # e.g. phantom/supplement
    ratios: list[int]
    baseline_family: str | None = None  # family file whose ratio-0 task is the real-only baseline
    #: the same tasks scored on other label sets, named `<task>-<label set>` (phantom/classify-competition5,
    #: phantom/supplement-100-competition5); not run by default (`cxrbench evaluate -t NAME`)
    label_set_variants: list[LabelSetName] = []

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, v: list[int]) -> list[int]:
        bad = [r for r in v if r not in ALLOWED_RATIOS]
        if bad:
            raise ValueError(f"ratios {bad} not in {ALLOWED_RATIOS}")
        return v

    @model_validator(mode="after")
    def _family_rules(self) -> "TaskFamilyFile":
        if self.label_set in self.label_set_variants:
            raise ValueError(f"label_set_variants repeats the family's own label set {self.label_set!r}")
        if "internal_test" not in self.eval_sets:
            raise ValueError("eval_sets must include 'internal_test'")
        if self.family in ("supplement", "cross_source") and self.real_train is None:
            raise ValueError(f"family {self.family} needs real_train")
        if self.family == "synthetic_only" and (self.real_train is not None or 0 in self.ratios):
            raise ValueError("family synthetic_only takes no real_train and no ratio 0")
        if self.family != "real_only" and self.conditions_from is None:
            raise ValueError(f"family {self.family} needs conditions_from")
        for name, ref in self.eval_sets.items():
            if ref.split != "test":
                raise ValueError(f"eval set {name!r} must use a test split, not {ref.split!r}")
        if self.val.split != "val":
            raise ValueError("val must use the val split")
        for budget_name, budget in self.budgets.items():
            unknown = sorted(set(budget.eval_patients) - set(self.eval_sets))
            if unknown:
                raise ValueError(f"budget {budget_name}: eval_patients names {unknown}, not eval sets of this task "
                                 f"({', '.join(self.eval_sets)})")
        if self.primary.eval_set not in self.eval_sets:
            raise ValueError(f"primary endpoint eval_set {self.primary.eval_set!r} is not one of the eval sets "
                             f"({', '.join(self.eval_sets)})")
        return self


class TaskSpec(_TaskDefinition):
    """One runnable task: a family file at one supplementation ratio."""

    name: str  # phantom/supplement-100
    supplement_ratio: int
    baseline: str | None  # name of the real-only task compared against; None for a baseline itself
    #: the task this one is a label-set variant of (`label_set_variants`); variants are not run by default
    variant_of: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return LABEL_SETS[self.label_set]

    @property
    def replicas(self) -> int:
        """Synthetic images per conditioning training row (the study's replica scheme)."""
        return self.supplement_ratio // 100

    @property
    def uses_generator(self) -> bool:
        return self.replicas > 0

    def replicas_for_seed(self, seed: int) -> list[int]:
        """The replica numbers classifier seed `seed` trains on (see `synthetic_sets`)."""
        first = seed * self.replicas if self.synthetic_sets == "per_seed" else 0
        return list(range(first, first + self.replicas))

    def replicas_for_seeds(self, seeds) -> list[int]:
        """Every replica a run with these classifier seeds needs, in order."""
        return sorted({r for s in seeds for r in self.replicas_for_seed(s)})

    def budget(self, name: str) -> Budget:
        try:
            return self.budgets[name]
        except KeyError:
            raise ConfigError(f"task {self.name}: no budget {name!r}; has: {', '.join(self.budgets)}") from None

    def sha256(self) -> str:
        """Hash of everything in the spec that can change a number in a result."""
        # ranking rules and the variant a task is of change no number: outside the hash, like the description
        payload = self.model_dump(mode="json", exclude={"description", "superseded_by", "more_real_data", "variant_of"})
        if payload["synthetic_sets"] == "shared":  # added after version 3: specs without it keep their hash
            del payload["synthetic_sets"]
        for budget in payload["budgets"].values():  # likewise for budgets without per-set patient counts
            if not budget["eval_patients"]:
                del budget["eval_patients"]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _expand(fam: TaskFamilyFile) -> list[TaskSpec]:
    specs = []
    for ratio in fam.ratios:
        base = fam.model_dump(exclude={"ratios", "name", "baseline_family", "label_set_variants"})
        if fam.family == "real_only":
            name, baseline = fam.name, None
        else:
            name = f"{fam.name}-{ratio}"
            baseline = None if ratio == 0 else f"{fam.baseline_family or fam.name}-0"
        specs.append(TaskSpec(name=name, supplement_ratio=ratio, baseline=baseline, **base))
        for label_set in fam.label_set_variants:
            specs.append(TaskSpec(**{**base, "label_set": label_set}, name=f"{name}-{label_set}", supplement_ratio=ratio,
                                  baseline=baseline and f"{baseline}-{label_set}", variant_of=name))
    return specs


def parse_task_file(path: Path) -> list[TaskSpec]:
    """Parse and validate one YAML file; ConfigError names the file and the field."""
    return _expand(load_yaml_model(path, TaskFamilyFile, ConfigError))



@lru_cache(maxsize=4)
def load_tasks(folder: str | None = None) -> dict[str, TaskSpec]:
    """All shipped tasks (or those in `folder`), by name."""
    from cxrbench.tasks import tasks_dir

    root = Path(folder) if folder else tasks_dir()
    tasks: dict[str, TaskSpec] = {}
    for path in sorted(root.glob("*.yaml")):
        for spec in parse_task_file(path):
            if spec.name in tasks:
                raise ConfigError(f"{path}: task {spec.name!r} is declared twice")
            tasks[spec.name] = spec
    for spec in tasks.values():
        if spec.baseline and spec.baseline not in tasks:
            raise ConfigError(f"task {spec.name}: baseline {spec.baseline!r} is not a known task")
    return tasks


def get_task(name: str) -> TaskSpec:
    """A shipped task by name (`phantom/supplement-100`); ConfigError lists close names."""
    tasks = load_tasks()
    if name in tasks:
        return tasks[name]
    import difflib

    close = difflib.get_close_matches(name, list(tasks), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `cxrbench tasks ls`"
    raise ConfigError(f"unknown task {name!r}{hint}")


def kind_mismatch(kind: str, spec: TaskSpec) -> str | None:
    """Why a submission of `kind` cannot be scored on `spec` (None: it fits)."""
    if kind == "classifier" and spec.family != "real_only":
        return (f"{spec.name} is a {spec.family} task, scored on a generator's synthetic images; a classifier "
                f"submission runs on real_only tasks (e.g. phantom/classify)")
    if kind == "generator" and spec.family == "real_only":
        return f"{spec.name} scores a submitted classifier; a generator submission runs on the other task families"
    return None


def default_tasks(kind: str, profile: str, budget: str) -> list[TaskSpec]:
    """The tasks `cxrbench evaluate` runs when none is named, for a submission kind."""
    out = []
    for spec in load_tasks().values():
        if spec.profile != profile or spec.superseded_by or spec.variant_of:
            continue
        b = spec.budgets.get(budget)
        if b is None:
            continue
        if kind_mismatch(kind, spec):
            continue
        if b.ratios is not None and spec.supplement_ratio not in b.ratios and spec.family != "real_only":
            continue
        out.append(spec)
    return out


def split_fingerprints(spec: TaskSpec, budget: str) -> dict[str, str] | None:
    """The committed slice fingerprints a record of `spec` at `budget` must carry, or None if none ship.

    `tasks/cxrbench/tasks/<profile>.fingerprints.json` (made by `cxrbench tasks fingerprint`; a test
    recomputes it) lets `cxrbench publish` reject a record scored on different data.
    """
    import json

    from cxrbench.tasks import tasks_dir

    path = tasks_dir() / f"{spec.profile}.fingerprints.json"
    if not path.is_file():
        return None
    table = json.loads(path.read_text())
    entry = table.get("tasks", {}).get(budget, {}).get(spec.name)
    if entry is None or entry.get("spec_sha256") != spec.sha256():
        return None
    return entry["fingerprints"]
