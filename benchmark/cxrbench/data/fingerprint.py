"""Split fingerprints: what a frozen split is, in a small reviewable JSON, and how a user's
local copy is checked against it.

A fingerprint holds counts per split, a sha256 over the sorted `(patient, split)` pairs (and
over `(image, split)` pairs for image-level splits) and, for hash-scheme splits, the set of
patient ids in compact form, so that `verify` can name the patients a local copy lacks or adds.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cxrbench.data.atomic import atomic_write_text
from cxrbench.data.splits import SALT, SPLIT_NAMES, Split, assign_splits
from cxrbench.errors import DataError

FINGERPRINT_VERSION = 1
_NUMBERED = re.compile(r"^(.*?)([0-9]+)$")


def pairs_sha256(keys: pd.Series | pd.Index, splits: pd.Series) -> str:
    """sha256 over the sorted unique lines `key<TAB>split\\n`."""
    lines = sorted(set(f"{k}\t{s}\n" for k, s in zip(map(str, keys), map(str, splits))))
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def compact_ids(ids: list[str]) -> dict:
    """Encode a set of ids as `{prefix|width: [[first, last], ...]}` runs plus the unnumbered rest.

    `patient00001 … patient64540` becomes `{"patient|5": [[1, 64540]]}`; decoding is exact.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    other: list[str] = []
    for pid in sorted(set(ids)):
        m = _NUMBERED.match(pid)
        if m and "|" not in m.group(1):
            groups[f"{m.group(1)}|{len(m.group(2))}"].append(int(m.group(2)))
        else:
            other.append(pid)
    runs: dict[str, list[list[int]]] = {}
    for key, numbers in sorted(groups.items()):
        numbers.sort()
        spans: list[list[int]] = []
        for n in numbers:
            if spans and n == spans[-1][1] + 1:
                spans[-1][1] = n
            else:
                spans.append([n, n])
        runs[key] = spans
    return {"runs": runs, "other": other}


def expand_ids(compact: dict) -> list[str]:
    """Inverse of `compact_ids` (sorted)."""
    out: list[str] = list(compact.get("other", []))
    for key, spans in compact.get("runs", {}).items():
        prefix, width = key.rsplit("|", 1)
        w = int(width)
        for first, last in spans:
            out.extend(f"{prefix}{n:0{w}d}" for n in range(first, last + 1))
    return sorted(out)


class Fingerprint(BaseModel):
    """A frozen split, summarised. `patient_ids` is present for hash-scheme splits only."""

    model_config = ConfigDict(extra="forbid")

    version: int = FINGERPRINT_VERSION
    source: str
    scheme: str
    level: str = Field(description="patient (hash / official schemes) or image (published lists)")
    salt: str | None = None
    patients: dict[str, int]
    images: dict[str, int]
    sha256: str = Field(description="sha256 over sorted (patient_id, split) lines")
    image_sha256: str | None = Field(default=None, description="sha256 over sorted (image_id, split) lines")
    patient_ids: dict | None = None
    note: str = ""

    @classmethod
    def of(cls, split: Split, rows: pd.DataFrame | None = None, *, with_ids: bool | None = None,
           note: str = "") -> Fingerprint:
        """Fingerprint `split`; image counts come from `rows` (or from an image-level split's list)."""
        if with_ids is None:
            with_ids = split.scheme == "cxrbench"
        counts = split.counts(rows if split.images is None else None)
        image_sha = None
        if split.images is not None:
            image_sha = pairs_sha256(split.images.index, split.images["split"])
        return cls(
            source=split.source, scheme=split.scheme, level=split.level,
            salt=SALT if split.scheme == "cxrbench" else None,
            patients=counts["patients"], images=counts["images"],
            sha256=pairs_sha256(split.patients.index, split.patients),
            image_sha256=image_sha,
            patient_ids=compact_ids(split.patients.index.astype(str).tolist()) if with_ids else None,
            note=note,
        )

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, json.dumps(self.model_dump(exclude_none=True), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Fingerprint:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: fingerprint file not found")
        try:
            return cls.model_validate_json(path.read_text())
        except ValueError as exc:
            raise DataError(f"{path}: not a valid cxrbench fingerprint ({str(exc).splitlines()[0]})") from None


def fingerprint_dir() -> Path:
    """Committed fingerprints (`tasks/cxrbench/tasks/fingerprints/`), shipped as `cxrbench.tasks` package data."""
    from cxrbench.tasks import fingerprints_dir

    return fingerprints_dir()


def committed_path(source: str, scheme: str) -> Path:
    return fingerprint_dir() / f"{source}-{scheme}.json"


def committed(source: str, scheme: str) -> Fingerprint:
    """The committed fingerprint of (source, scheme); DataError if none is committed."""
    path = committed_path(source, scheme)
    if not path.is_file():
        known = sorted(p.stem for p in fingerprint_dir().glob("*.json"))
        raise DataError(f"no committed fingerprint for source {source!r} scheme {scheme!r} "
                        f"(looked for {path}); committed: {', '.join(known) or 'none'}; "
                        "`cxrbench data verify ... --write-fingerprint FILE` makes one")
    return Fingerprint.load(path)


def list_committed() -> list[Fingerprint]:
    return [Fingerprint.load(p) for p in sorted(fingerprint_dir().glob("*.json"))]


class VerifyReport(BaseModel):
    """The outcome of checking a local split against a frozen fingerprint.

    status: `match` (identical), `subset` (every local patient is in the frozen split with the
    same assignment, but the local copy lacks some patients or images), `mismatch` (anything else).
    """

    status: str
    source: str
    scheme: str
    lines: list[str]
    missing_patients: list[str] = []
    extra_patients: list[str] = []

    @property
    def ok(self) -> bool:
        return self.status in ("match", "subset")


def _fmt_counts(counts: dict[str, int]) -> str:
    return " / ".join(f"{s} {counts.get(s, 0):,}" for s in SPLIT_NAMES)


def _examples(ids: list[str], k: int = 5) -> str:
    shown = ", ".join(ids[:k])
    return shown + (f", … (+{len(ids) - k:,} more)" if len(ids) > k else "")


def verify(local: Fingerprint, frozen: Fingerprint) -> VerifyReport:
    """Compare a fingerprint computed from a local copy with the frozen one, naming differences."""
    lines: list[str] = []
    head = dict(source=frozen.source, scheme=frozen.scheme)
    if local.salt != frozen.salt or local.level != frozen.level:
        lines.append(f"scheme differs: local salt/level {local.salt}/{local.level} vs frozen {frozen.salt}/{frozen.level}")
        return VerifyReport(status="mismatch", lines=lines, **head)
    if local.sha256 == frozen.sha256 and local.images == frozen.images and local.image_sha256 == frozen.image_sha256:
        lines.append(f"patients {_fmt_counts(local.patients)}")
        lines.append(f"images   {_fmt_counts(local.images)}")
        lines.append(f"sha256 {local.sha256}")
        return VerifyReport(status="match", lines=lines, **head)

    lines.append(f"patients: local {_fmt_counts(local.patients)}  vs frozen {_fmt_counts(frozen.patients)}")
    lines.append(f"images:   local {_fmt_counts(local.images)}  vs frozen {_fmt_counts(frozen.images)}")
    if frozen.patient_ids is None or local.patient_ids is None:
        lines.append(f"sha256: local {local.sha256[:16]}… vs frozen {frozen.sha256[:16]}… "
                     "(this fingerprint stores no patient list, so differing patients cannot be named)")
        return VerifyReport(status="mismatch", lines=lines, **head)

    frozen_ids = expand_ids(frozen.patient_ids)
    local_ids = expand_ids(local.patient_ids)
    # The frozen assignment is recomputed from the ids; if it no longer hashes to the stored
    # sha256, the split function itself changed and every comparison below is meaningless.
    recomputed = pairs_sha256(pd.Index(frozen_ids), assign_splits(frozen_ids, frozen.scheme))
    if recomputed != frozen.sha256:
        lines.append("the split function no longer reproduces the frozen fingerprint "
                     f"(sha256 {recomputed[:16]}… vs {frozen.sha256[:16]}…): code or salt changed")
        return VerifyReport(status="mismatch", lines=lines, **head)
    frozen_set, local_set = set(frozen_ids), set(local_ids)
    missing = sorted(frozen_set - local_set)
    extra = sorted(local_set - frozen_set)
    if missing:
        by_split = assign_splits(missing).value_counts().to_dict()
        lines.append(f"{len(missing):,} frozen patient(s) absent locally ({_fmt_counts(by_split)}): {_examples(missing)}")
    if extra:
        lines.append(f"{len(extra):,} local patient(s) not in the frozen split: {_examples(extra)}")
    more_images = any(local.images.get(s, 0) > frozen.images.get(s, 0) for s in SPLIT_NAMES)
    if not missing and not extra:
        lines.append("same patients and assignments, but image counts differ")
    status = "subset" if not extra and not more_images and (missing or local.images != frozen.images) else "mismatch"
    return VerifyReport(status=status, lines=lines, missing_patients=missing, extra_patients=extra, **head)
