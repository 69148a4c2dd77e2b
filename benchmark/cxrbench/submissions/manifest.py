"""`submission.yaml`: what a submission is, typed at the boundary.

A submission is a directory. Its manifest says whether it is a generator or a classifier, and
how it runs: an entry point (`module:Class`, the module a .py file in the directory), precomputed
files (a synthetic set, or predictions), or, with no Python at all, a `diffusers:` block (a
pipeline folder, `diffusers_block.py`) or a `timm:` block (a checkpoint, `timm_block.py`) that a
built-in adapter runs inside the sandbox. Declared weights are checked against their sha256, and
every block's files and fields are checked, before anything runs.

```yaml
name: my-generator
version: "1.0"
kind: generator                 # or: classifier
entry_point: generator:MyGenerator
authors: [Ada Lovelace]
license: Apache-2.0
paper: https://arxiv.org/abs/2401.00001          # optional; shown on the leaderboard
links: {code: https://github.com/ada/my-generator, model card: https://huggingface.co/ada/my-generator}
training_data:                  # required for a generator: the real data it learned from ([] for none)
  - {data: phantom/site-a/train, patients: 712, images: 1902, population: 1000}
weights: {weights/model.safetensors: <sha256>}
```

The parameter count the leaderboard shows is cxrbench's own, from the safetensors headers of the
folder's weights (`weights.py`); a manifest cannot state it.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cxrbench.errors import SubmissionError, load_yaml_model, printable, pydantic_problems
from cxrbench.results import check_links, check_url
from cxrbench.schema import PATHOLOGIES
from cxrbench.submissions.condition_mapping import PromptMapping
from cxrbench.submissions.diffusers_block import DiffusersBlock, check_pipeline_folder
from cxrbench.submissions.hub import HubSnapshot, is_hub_id, parse, resolve
from cxrbench.submissions.label_map import LabelMapField, check_label_map, closest, output_labels, scored_labels
from cxrbench.submissions.staging import StagedCopy, hash_files, new_staging_folder
from cxrbench.submissions.timm_block import TimmBlock, check_timm
from cxrbench.submissions.weights import hub_parameter_counts, parameter_counts, reference_parameter_counts
from cxrbench.training_population import EXAMPLE, TrainingSource, check_data_key, check_declared

MANIFEST = "submission.yaml"
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
#: the built-in adapters that run a zero-code block inside the sandbox, as entry points
ADAPTERS = {"diffusers": "cxrbench.submissions.adapters.diffusers_generator:DiffusersGenerator",
            "timm": "cxrbench.submissions.adapters.timm_classifier:TimmClassifier"}


class Precomputed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: generator: a folder with `conditions.parquet|csv` (request_id + condition columns) and
    #: `images/<request_id>.png`, or a Hugging Face `datasets` folder with `request_id`, `image`;
    #: with `table`, the folder the table's image paths are relative to.
    synthetic: str | None = None
    #: classifier: a parquet (or CSV) with `image_id` + one probability column per label it predicts
    #: (cxrbench names, or its own through `label_map`)
    predictions: str | None = None
    label_map: LabelMapField = None
    #: generator: a CheXGenBench-style CSV/parquet of one row per image (a prompt or a request id,
    #: and an image path), matched to the requests by `key` (`synthetic_table.py`)
    table: str | None = None
    key: Literal["request_id", "prompt"] = "request_id"
    key_column: str | None = None  # default: the key's name
    image_column: str = "img_savename"
    #: key prompt: how a request becomes the prompt it is matched by
    prompt: PromptMapping | None = None
    #: generator: resize stored images to the task's size (longest side, padded square); none = must match
    resize: Literal["none", "bilinear", "bicubic", "area", "nearest"] = "none"

    @field_validator("label_map")
    @classmethod
    def _label_map(cls, v: LabelMapField) -> LabelMapField:
        return check_label_map(v)

    @model_validator(mode="after")
    def _table(self) -> "Precomputed":
        if self.label_map is not None and not self.predictions:
            raise ValueError("precomputed.label_map names the columns of precomputed.predictions; give the predictions")
        if self.table is not None and not self.synthetic:
            raise ValueError("precomputed.table needs precomputed.synthetic (the folder its image paths are relative to)")
        if self.table is None and (self.key != "request_id" or self.prompt is not None or self.key_column):
            raise ValueError("precomputed.key, key_column and prompt describe a precomputed.table; give the table")
        if self.key == "prompt" and self.prompt is None:
            self.prompt = PromptMapping()
        if self.key != "prompt" and self.prompt is not None:
            raise ValueError("precomputed.prompt is for key: prompt")
        return self


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    version: str = Field(min_length=1, max_length=32)
    kind: Literal["generator", "classifier"]
    description: str = ""
    entry_point: str | None = None
    precomputed: Precomputed | None = None
    authors: list[str] = []
    license: str | None = None
    #: the paper that describes the model (a URL: arXiv, DOI, ...) and named links (code, model card)
    paper: str | None = None
    links: dict[str, str] = {}
    #: real data the model learned from: `{data: source/site/split, patients: N, ...}` entries
    #: (`cxrbench.training_population`); required for a generator; a classifier may give bare keys
    training_data: list[str | TrainingSource] | None = None
    #: classifier with an entry_point: the cxrbench labels its `predict` can return (default: all 14);
    #: a task scores it on those among its own, in the task's order (`label_names`)
    labels: list[str] | None = None
    weights: dict[str, str] = {}  # relative path -> sha256
    #: shipped cxrbench weights its code loads (e.g. tiny-32, tiny-32-p1k), counted into its parameters and hash
    reference_weights: str | None = None
    batch_size: int = Field(default=256, ge=1, le=65536)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    diffusers: DiffusersBlock | None = None
    timm: TimmBlock | None = None

    @field_validator("entry_point")
    @classmethod
    def _entry(cls, v: str | None) -> str | None:
        if v is not None and not _ENTRY.match(v):
            raise ValueError(f"entry_point {v!r} must look like 'module:Class' (e.g. generator:MyGenerator)")
        return v

    @field_validator("paper")
    @classmethod
    def _paper(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v, "paper")  # the record's own rule, so it reads back

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise ValueError("labels is empty; list the cxrbench labels the classifier predicts")
            unknown = [n for n in v if n not in PATHOLOGIES]
            if unknown:
                raise ValueError(f"{unknown[0]!r} is not a cxrbench label{closest(unknown[0], PATHOLOGIES)}")
        return v

    @field_validator("training_data", mode="before")
    @classmethod
    def _training_data(cls, v):
        # item by item, so a problem names its entry (a str | model union would report both branches)
        if v is None or not isinstance(v, list):
            return v
        out = []
        for i, item in enumerate(v):
            try:
                out.append(check_data_key(item) if isinstance(item, str) else TrainingSource.model_validate(item))
            except (ValueError, ValidationError) as exc:
                problem = pydantic_problems(exc) if isinstance(exc, ValidationError) else str(exc)
                raise ValueError(f"entry {i}: {problem}") from None
        return out

    @field_validator("links")
    @classmethod
    def _links(cls, v: dict[str, str]) -> dict[str, str]:
        return check_links(v)

    @model_validator(mode="after")
    def _one_way(self) -> "Manifest":
        pre = self.precomputed
        has_pre = pre is not None and (pre.synthetic or pre.predictions)
        ways = [bool(self.entry_point), bool(has_pre), self.diffusers is not None, self.timm is not None]
        if sum(ways) != 1:
            raise ValueError("give exactly one of entry_point, precomputed, diffusers or timm")
        if self.diffusers is not None and self.kind != "generator":
            raise ValueError("a diffusers block makes a generator: set kind: generator")
        if self.timm is not None and self.kind != "classifier":
            raise ValueError("a timm block makes a classifier: set kind: classifier")
        if self.labels is not None and not (self.kind == "classifier" and self.entry_point):
            raise ValueError("labels is for a classifier's entry_point (a timm block lists timm.labels; precomputed "
                             "predictions are read by their columns)")
        if self.kind == "generator":
            if self.training_data is None:
                raise ValueError(f"field 'training_data' is required for a generator: the real data it learned "
                                 f"from, e.g. {EXAMPLE}")
            bare = [d for d in self.training_data if isinstance(d, str)]
            if bare:
                raise ValueError(f"field 'training_data': {bare[0]!r} gives no patient count; a generator declares "
                                 f"how many real patients it learned from, e.g. {EXAMPLE}")
        if pre is not None:
            if self.kind == "generator" and pre.predictions:
                raise ValueError("a generator's precomputed files are `synthetic`, not `predictions`")
            if self.kind == "classifier" and pre.synthetic:
                raise ValueError("a classifier's precomputed files are `predictions`, not `synthetic`")
        return self


    @property
    def training_keys(self) -> list[str]:
        """Every declared `source/site/split` key, with or without counts."""
        return [d if isinstance(d, str) else d.data for d in self.training_data or []]

    @property
    def training_population(self) -> list[TrainingSource]:
        """The declared entries that give patient counts."""
        return [d for d in self.training_data or [] if isinstance(d, TrainingSource)]


class Submission:
    """A validated submission directory."""

    def __init__(self, root: Path, manifest: Manifest, parameter_files: dict[str, int] | None = None,
                 files: list[tuple[Path, str, str]] | None = None, hub: dict[str, HubSnapshot] | None = None):
        self.root = root
        self.manifest = manifest
        self.files = files  # `submission_files(root)`, as listed when it was loaded
        #: {block field: its Hub id resolved to a local snapshot} (`hub.py`), resolved by `load_submission`
        self.hub = dict(hub or {})
        self._digest: str | None = None
        self._file_digests: dict[str, str] = {}
        self._staged: StagedCopy | None = None
        #: {relative path: tensor elements} of its safetensors files, counted by `load_submission`
        self.parameter_files = dict(parameter_files or {})

    @property
    def parameters(self) -> int | None:
        """Tensor elements over the folder's safetensors files (None: it ships no weights)."""
        return sum(self.parameter_files.values()) if self.parameter_files else None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def entry_point(self) -> str | None:
        """What the sandbox worker runs: the submission's own class, or the adapter of its block."""
        m = self.manifest
        if m.entry_point:
            return m.entry_point
        return next((ADAPTERS[b] for b in ADAPTERS if getattr(m, b) is not None), None)

    @property
    def may_fit(self) -> bool:
        """Whether it may train on a task's real training rows: its own code may (`fit`, optional);
        a `timm:` block only with `fit`; precomputed predictions never."""
        m = self.manifest
        if m.timm is not None:
            return m.timm.fit is not None
        return bool(m.entry_point)

    def predicted_labels(self) -> list[str | None]:
        """The cxrbench label each output of a classifier predicts (None: not scored): its timm head's
        outputs, its precomputed predictions' columns (both through their label map), or the labels
        its entry point declares (default all 14). A generator: every label."""
        m = self.manifest
        if m.kind == "generator":
            return list(PATHOLOGIES)
        if m.timm is not None:
            return m.timm.predicted()
        if m.precomputed is not None and m.precomputed.predictions:
            path = self.root / m.precomputed.predictions
            columns = [c for c in prediction_columns(path) if c != "image_id"]
            try:
                return output_labels(columns, m.precomputed.label_map)
            except ValueError as exc:
                raise SubmissionError(f"{path}: {exc}") from None
        return list(m.labels or PATHOLOGIES)

    def scored_labels(self, task: str, labels) -> tuple[str, ...]:
        """The labels of task `task` (`labels`, its label set) this submission is scored on: those it
        predicts, in the task's order. SubmissionError (one line) when it predicts none of them."""
        predicted = self.predicted_labels()
        scored = scored_labels(labels, predicted)
        if not scored:
            mine = ", ".join(n for n in predicted if n) or "nothing"
            raise SubmissionError(f"{self.root / MANIFEST}: {self.name} predicts none of task {task}'s labels "
                                  f"({', '.join(labels)}); it predicts {mine}")
        return scored

    @property
    def runs_code(self) -> bool:
        """Whether code runs in the sandbox for it (its own, or the adapter of a diffusers / timm block)."""
        return self.entry_point is not None

    def sha256(self) -> str:
        """Content hash over every file in the directory (paths and bytes), caches excluded, and over
        the shipped weights named by `reference_weights`; computed once per object.

        Symlinks inside the folder count by their target's path, never followed; see `submission_files`.
        For a submission whose code runs, the same pass makes the copy the sandbox mounts (`staged`)."""
        if self._digest is None:
            copy = new_staging_folder() if self.runs_code else None
            self._digest, self._file_digests = self._hash(copy)
            self._staged = StagedCopy(copy) if copy is not None else None
        return self._digest

    def staged(self) -> Path:
        """The folder the sandbox mounts: exactly the hashed files. Made with the hash; made again (and
        checked against it) in a process that cannot see the first copy (a Ray worker elsewhere)."""
        digest = self.sha256()
        if self._staged is None or not self._staged.root.is_dir():
            copy = new_staging_folder()
            staged = StagedCopy(copy)  # removed with it, also when the check below fails
            if self._hash(copy)[0] != digest:
                raise SubmissionError(f"{printable(self.root)}: its files changed since the submission was hashed; "
                                      f"evaluate it again")
            self._staged = staged
        return self._staged.root

    def file_sha256(self, rel: str) -> str:
        """The sha256 of one declared weights file, from the hashing pass (no second read)."""
        self.sha256()
        return self._file_digests[rel]

    def _hash(self, copy_to: Path | None) -> tuple[str, dict[str, str]]:
        h = hashlib.sha256()
        files = self.files if self.files is not None else submission_files(self.root)
        declared = tuple((self.root / rel).resolve().relative_to(self.root).as_posix() for rel in self.manifest.weights)
        own = hash_files(self.root, files, h, copy_to=copy_to, digests_of=declared)
        if self.manifest.reference_weights:  # shipped weights its code loads count like its own files
            from cxrbench.submissions.weights import reference_weights_digest

            for name, digest in reference_weights_digest(self.manifest.reference_weights):
                h.update(f"{name}\0{digest}\0".encode())
        for field, snapshot in sorted(self.hub.items()):  # a Hub id counts by its commit and its files
            h.update(f"{field}\0".encode())
            snapshot.update(h)
        return h.hexdigest(), own

    def folder_of(self, field: str, value: str) -> Path:
        """The folder a block's field names: its Hub snapshot, or the folder inside the submission."""
        return self.hub[field].folder if field in self.hub else (self.root / value).resolve()


#: caps on what `evaluate` hashes and shows the sandbox
MAX_FILES = 20_000
MAX_BYTES = 64 << 30


def prediction_columns(path: Path) -> list[str]:
    """The column names of a predictions file (parquet: its schema; CSV: its header), without reading rows."""
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        import pandas as pd

        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's fault
        raise SubmissionError(f"{path}: cannot read predictions ({exc})") from None


def submission_files(root: Path) -> list[tuple[Path, str, str]]:
    """(relative path, "file" | "link", link target) of a submission's files, sorted; SubmissionError
    names the first FIFO, socket, device or symlink leaving the folder, and a folder over the caps.
    Nothing is opened here; hidden folders and __pycache__ are skipped (never hashed, never opened)."""
    out, total = [], 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink()]  # never descended (followlinks=False)
        dirnames[:] = sorted(d for d in dirnames if d not in links and d != "__pycache__"
                             and not (here == root and d.startswith(".")))
        for name in sorted(filenames + links):
            path = here / name
            rel = path.relative_to(root)
            if rel.parts[0].startswith("."):
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                resolved = Path(os.path.realpath(path))
                if resolved != root and root not in resolved.parents:
                    raise SubmissionError(f"{path}: symlink to {target} leaves the submission folder; copy the file in")
                out.append((rel, "link", target))
            elif stat.S_ISREG(st.st_mode):
                total += st.st_size
                out.append((rel, "file", ""))
            else:
                raise SubmissionError(f"{path}: {_kind(st.st_mode)} in a submission folder; only files, folders and "
                                      f"symlinks within it are allowed")
            if len(out) > MAX_FILES:
                raise SubmissionError(f"{root}: more than {MAX_FILES} files (the limit); ship an archive or fewer files")
            if total > MAX_BYTES:
                raise SubmissionError(f"{root}: over {MAX_BYTES >> 30} GiB of files (the limit)")
    return sorted(out)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device file" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "an unsupported file type"


def load_submission(path: str | Path) -> Submission:
    """Read and check a submission directory; SubmissionError says what to fix."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise SubmissionError(f"{path}: not a directory (a submission is a folder with {MANIFEST})")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise SubmissionError(f"{path}: no {MANIFEST} (see submissions/README.md for the format)")
    manifest = load_yaml_model(mpath, Manifest, SubmissionError, what="a mapping of fields (name, version, kind, ...)")
    files = submission_files(root)  # refuses FIFOs, devices, sockets, escaping symlinks, oversized folders
    if manifest.entry_point:
        module = manifest.entry_point.split(":")[0]
        if not (root / (module.replace(".", "/") + ".py")).is_file():
            raise SubmissionError(
                f"{mpath}: entry_point module {module!r} not found: expected {module.replace('.', '/')}.py "
                f"in {root}")
    if manifest.precomputed:
        rel = manifest.precomputed.synthetic or manifest.precomputed.predictions
        target = (root / rel).resolve()
        if root not in target.parents and target != root:
            raise SubmissionError(f"{mpath}: precomputed path {rel!r} points outside the submission directory")
        if not target.exists():
            raise SubmissionError(f"{mpath}: precomputed path {rel!r} does not exist")
    hub = resolve_hub_ids(manifest, mpath)  # before any check reads a folder, and before any sandbox starts
    if manifest.diffusers is not None:
        check_pipeline_folder(root, manifest.diffusers, mpath, hub.get("diffusers.pipeline"))
    if manifest.timm is not None:
        check_timm(root, manifest.timm, mpath, hub.get("timm.architecture"))
    submission = Submission(root, manifest, hub=hub)
    submission.predicted_labels()  # a predictions file's columns against its label map, before anything runs
    if manifest.precomputed and manifest.precomputed.table:
        from cxrbench.submissions.synthetic_table import read_table

        read_table(root, manifest.precomputed, mpath)
    listed = {rel.as_posix() for rel, kind, _ in files if kind == "file"}
    weight_files = {}  # declared path -> the hashed file it is
    for rel in manifest.weights:
        wpath = (root / rel).resolve()
        if root not in wpath.parents:
            raise SubmissionError(f"{mpath}: weights path {rel!r} points outside the submission directory")
        weight_files[rel] = wpath.relative_to(root).as_posix()
        if not wpath.is_file() or weight_files[rel] not in listed:
            raise SubmissionError(f"{mpath}: declared weights file {rel!r} is missing")
        if not wpath.name.endswith(".safetensors"):
            raise SubmissionError(f"{mpath}: weights file {rel!r} must be safetensors (pickles are never loaded)")
    submission = Submission(root, manifest, None, files, hub)
    for rel, expected in manifest.weights.items():  # read once: the pass that hashes (and stages) the folder
        if (actual := submission.file_sha256(weight_files[rel])) != expected:
            raise SubmissionError(f"{mpath}: sha256 of {rel} is {actual[:12]}…, manifest says {expected[:12]}…")
    for entry in manifest.training_population:
        if (why := check_declared(entry)) is not None:
            raise SubmissionError(f"{mpath}: field 'training_data': {why}")
    counts = parameter_counts(root, files)  # an unreadable header is an error here
    counts.update(hub_parameter_counts(hub))
    if manifest.reference_weights:
        try:
            counts.update(reference_parameter_counts(manifest.reference_weights))
        except SubmissionError as exc:
            raise SubmissionError(f"{mpath}: {exc}") from None
    submission.parameter_files = counts
    return submission


def resolve_hub_ids(manifest: Manifest, manifest_path: Path) -> dict[str, HubSnapshot]:
    """Each Hub id of a block (`hf://...`, `hf-hub:...`) as a local snapshot; SubmissionError, one line
    naming the field, the id and its revision, when it cannot be had."""
    fields = {"diffusers.pipeline": manifest.diffusers.pipeline if manifest.diffusers else None,
              "timm.architecture": manifest.timm.architecture if manifest.timm else None}
    out = {}
    for field, value in fields.items():
        if is_hub_id(value):
            try:
                out[field] = resolve(parse(value))
            except SubmissionError as exc:
                raise SubmissionError(f"{manifest_path}: field {field!r}: {exc}") from None
    return out
