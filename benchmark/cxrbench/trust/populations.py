"""Which eval populations a run scores on: the public `dev` sets, or `held-out` ones.

Every public population is a function of public seeds (the phantom) or of public lists (a
study's test split), so a submission can recompute it and look labels up from the pixels. A
held-out run changes the eval populations only; training rows, validation rows and the rows a
generator is conditioned on stay the public ones:

- a phantom eval set is drawn with a population seed derived from the evaluator key, so its
  patients, films and labels cannot be regenerated without the key;
- a real-data eval set is *private*: a CSV source on the evaluator's machine (`PrivateEvalSet`)
  whose rows, ids and labels never enter a record, a log or the sandbox;
- either way its image and patient ids are replaced by opaque ones (HMAC under the key) before
  anything leaves the scorer, and its fingerprint in the record is keyed.

`DEV` is today's behaviour exactly: same rows, same fingerprints, same cache keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cxrbench.errors import ConfigError
from cxrbench.trust.keys import EvaluatorKey

if TYPE_CHECKING:
    from cxrbench.runner.datasets import RealSet
    from cxrbench.tasking import DataRef

DEV, HELD_OUT = "dev", "held-out"
#: columns of a held-out row that name it (replaced by opaque ids); labels and demographics stay
_ID_COLUMNS = {"image_id": "image", "patient_id": "patient", "study_id": "study", "path": "image"}


@dataclass(frozen=True)
class PrivateEvalSet:
    """An eval set that lives only on the evaluator's machine: every row of a CSV source is an eval image."""

    name: str  # the task's eval set it replaces (e.g. internal_test)
    csv: Path
    mapping: Path


@dataclass(frozen=True)
class EvalPopulation:
    """The eval populations of one run, and the key that derives them (`key=None`: dev, unsigned)."""

    key: EvaluatorKey | None = None
    held_out: bool = False
    private: tuple[PrivateEvalSet, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.held_out and self.key is None:
            raise ConfigError("held-out eval sets need an evaluator key (--evaluator-key)")
        if self.private and not self.held_out:
            raise ConfigError("private eval sets are held-out sets: they need an evaluator key and held-out eval sets")

    @property
    def name(self) -> str:
        return HELD_OUT if self.held_out else DEV

    @property
    def fingerprint(self) -> str | None:
        """The evaluator key's public fingerprint (None without a key)."""
        return self.key.fingerprint if self.key is not None else None

    def private_set(self, eval_set: str) -> PrivateEvalSet | None:
        return next((p for p in self.private if p.name == eval_set), None) if self.held_out else None

    def phantom_seed(self, ref: DataRef) -> int | None:
        """The population seed of a held-out phantom test slice (None: the public seed)."""
        if not self.held_out or ref.source != "phantom" or ref.split != "test":
            return None
        assert self.key is not None
        return self.key.population_seed(ref.source, ref.site)

    def check_task(self, task_name: str, eval_sets: dict[str, DataRef]) -> None:
        """ConfigError when a held-out run would score an eval set that is still public."""
        if not self.held_out:
            return
        unknown = sorted(p.name for p in self.private if p.name not in eval_sets)
        if unknown:
            raise ConfigError(f"private eval set(s) {unknown} are not eval sets of {task_name} "
                              f"(it has {', '.join(eval_sets)})")
        public = [name for name, ref in eval_sets.items()
                  if ref.source != "phantom" and self.private_set(name) is None]
        if public:
            raise ConfigError(f"{task_name}: eval set(s) {public} read public {eval_sets[public[0]].source} data, "
                              f"which anyone can look labels up in; declare each one private (--private-evals) "
                              f"or evaluate without an evaluator key (dev sets)")

    def seal(self, eval_set: RealSet) -> RealSet:
        """A held-out eval set as it may leave the scorer: opaque ids, keyed fingerprint (dev: unchanged)."""
        if not self.held_out:
            return eval_set
        from cxrbench.runner.datasets import slice_fingerprint_of, with_rows

        assert self.key is not None
        rows = eval_set.rows.copy()
        for column, kind in _ID_COLUMNS.items():
            if column in rows:
                rows[column] = [self.key.opaque_id(kind, str(v)) for v in rows[column]]
        fingerprint = slice_fingerprint_of(rows)  # over opaque ids: a hash only the key holder can reproduce
        return with_rows(eval_set, rows, fingerprint,
                         self.key.keyed_hash(f"{eval_set.content_key}\0held-out".encode()))

    def record_section(self, sealed: dict[str, RealSet] | None = None):
        """The record's `evaluation` section; `sealed`: the run's eval sets after `seal` (for private ones' counts)."""
        from cxrbench.results import Evaluation, PrivateFingerprint

        private = {}
        for name, es in (sealed or {}).items():
            if self.private_set(name) is not None:
                private[name] = PrivateFingerprint(n_images=len(es), n_patients=int(es.rows["patient_id"].nunique()),
                                                   keyed_sha256=es.fingerprint)
        return Evaluation(eval_sets=self.name, evaluator_key=self.fingerprint if self.held_out else None,
                          private_eval_sets=private)


def read_private_evals(path: Path) -> tuple[PrivateEvalSet, ...]:
    """The private eval sets declared in a YAML file, e.g.::

        internal_test: {csv: test.csv, mapping: mapping.yaml}   # paths relative to this file

    ConfigError names the file and the entry at fault (never a row of the CSV)."""
    from pydantic import BaseModel, ConfigDict, RootModel

    from cxrbench.errors import load_yaml_model

    class Entry(BaseModel):
        model_config = ConfigDict(extra="forbid")
        csv: str
        mapping: str

    path = Path(path)
    declared = load_yaml_model(path, RootModel[dict[str, Entry]], ConfigError,
                               what="eval set names, each with `csv:` and `mapping:` files").root
    if not declared:
        raise ConfigError(f"{path}: names no eval set")
    out = []
    for name, entry in declared.items():
        files = {k: (path.parent / v).resolve() for k, v in entry.model_dump().items()}
        for k, f in files.items():
            if not f.is_file():
                raise ConfigError(f"{path}: eval set {name!r}: {k} file {f} not found")
        out.append(PrivateEvalSet(name=name, csv=files["csv"], mapping=files["mapping"]))
    return tuple(out)


def population_from_options(key_path: str | None, eval_sets: str | None, private_evals: Path | None) -> EvalPopulation:
    """The population `--evaluator-key` / $CXRBENCH_EVALUATOR_KEY, `--eval-sets` and `--private-evals` ask for."""
    from cxrbench.trust.keys import HOW_TO_MAKE, key_from_options

    key = key_from_options(key_path)
    if eval_sets not in (None, DEV, HELD_OUT):
        raise ConfigError(f"--eval-sets {eval_sets!r}: choose {HELD_OUT} or {DEV}")
    held_out = (eval_sets or (HELD_OUT if key is not None else DEV)) == HELD_OUT
    if held_out and key is None:
        raise ConfigError(f"held-out eval sets need an evaluator key (--evaluator-key PATH or $CXRBENCH_EVALUATOR_KEY); "
                          f"{HOW_TO_MAKE}")
    private = read_private_evals(private_evals) if private_evals is not None else ()
    if private and not held_out:
        raise ConfigError("--private-evals declares held-out sets: drop --eval-sets dev")
    return EvalPopulation(key=key, held_out=held_out, private=private)
