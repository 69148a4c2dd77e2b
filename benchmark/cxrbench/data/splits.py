"""Frozen patient-level splits.

The `cxrbench` scheme puts each patient in train / val / test by a salted SHA-256 of the patient
id alone, so a patient's split never depends on row order, on other patients, or on which subset
of the images a user holds. Other schemes (MIMIC's `official`, a study's published lists) are
explicit assignments carried by a `Split`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.errors import ConfigError, DataError

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
#: Fractions of patients per split in the `cxrbench` scheme.
FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}
#: u < 0.7 → train, 0.7 ≤ u < 0.8 → val, else test (two cuts, so u = 1.0 after rounding is still test).
CUTS = np.array([0.7, 0.8])
#: Changing the salt re-deals every patient: it is part of the scheme's identity (and fingerprint).
SALT = "cxrbench-split-v1"
HASH_SCHEME = "cxrbench"


def patient_unit_interval(patient_id: str, salt: str = SALT) -> float:
    """A patient's position in [0, 1): the first 8 bytes of sha256(salt:patient_id)."""
    digest = hashlib.sha256(f"{salt}:{patient_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(patient_ids: Iterable[str] | pd.Series, scheme: str = HASH_SCHEME) -> pd.Series:
    """The `cxrbench` split of each patient id: a Series of "train" | "val" | "test".

    The result is aligned with the input (same index when a Series is given, else 0..n-1), so
    `rows["split"] = assign_splits(rows["patient_id"])` works; duplicates get the same split.
    Fractions are 0.7 / 0.1 / 0.2 in expectation. Only the hash scheme is computable from ids
    alone; `official` and imported schemes come from `Source.split(scheme)` or `Split.load`.
    """
    if scheme != HASH_SCHEME:
        raise ConfigError(
            f"split scheme {scheme!r} cannot be computed from patient ids; only {HASH_SCHEME!r} can "
            "(use Source.split(scheme) for a source's own scheme or Split.load(file) for an imported one)"
        )
    ids = patient_ids if isinstance(patient_ids, pd.Series) else pd.Series(list(patient_ids))
    if ids.isna().any():
        raise DataError(f"assign_splits: empty patient id at position {int(ids.isna().to_numpy().argmax())}")
    as_str = ids.astype(str)
    unique = pd.unique(as_str.to_numpy())
    u = np.fromiter((patient_unit_interval(p) for p in unique), dtype=np.float64, count=len(unique))
    labels = np.asarray(SPLIT_NAMES, dtype=object)[np.searchsorted(CUTS, u, side="right")]
    lookup = dict(zip(unique, labels))
    return pd.Series(as_str.map(lookup).to_numpy(), index=ids.index, name="split", dtype="string")


@dataclass(frozen=True)
class Split:
    """A frozen assignment of patients (and, for published image lists, images) to splits.

    `patients`: Series indexed by patient_id with values in SPLIT_NAMES.
    `images`: DataFrame indexed by image_id with `patient_id, split`, only for image-level
    schemes (published lists name the images they use, which may be a subset of each patient's
    images); None otherwise.
    """

    source: str
    scheme: str
    patients: pd.Series
    images: pd.DataFrame | None = None

    @classmethod
    def from_rows(cls, rows: pd.DataFrame, source: str, scheme: str = HASH_SCHEME) -> Split:
        """The hash-scheme split of the patients present in `rows`."""
        patients = pd.Series(pd.unique(rows["patient_id"].astype(str).to_numpy()))
        assignment = assign_splits(patients, scheme)
        return cls(source, scheme, pd.Series(assignment.to_numpy(), index=patients.to_numpy(), name="split"))

    @classmethod
    def from_image_table(cls, table: pd.DataFrame, source: str, scheme: str) -> Split:
        """An image-level split from a table with `image_id, patient_id, split`.

        Raises DataError if an image id repeats or a patient appears in two splits (leakage).
        """
        bad = set(table["split"].unique()) - set(SPLIT_NAMES)
        if bad:
            raise DataError(f"split {scheme!r}: unknown split name(s) {sorted(bad)}; allowed: {SPLIT_NAMES}")
        dup = table["image_id"].duplicated(keep=False)
        if dup.any():
            raise DataError(
                f"split {scheme!r}: image(s) listed twice: {table.loc[dup, 'image_id'].unique()[:5].tolist()} "
                f"({int(dup.sum())} rows)"
            )
        per_patient = table.groupby("patient_id")["split"].nunique()
        leaked = per_patient[per_patient > 1].index.tolist()
        if leaked:
            raise DataError(
                f"split {scheme!r}: {len(leaked)} patient(s) appear in more than one split, e.g. {leaked[:5]}"
            )
        table = table.astype({"image_id": str, "patient_id": str, "split": str})
        patients = table.drop_duplicates("patient_id").set_index("patient_id")["split"]
        images = table.set_index("image_id")[["patient_id", "split"]]
        return cls(source, scheme, patients.rename("split"), images)

    @property
    def level(self) -> str:
        return "patient" if self.images is None else "image"

    def of(self, rows: pd.DataFrame) -> pd.Series:
        """The split of each row (aligned with `rows`); <NA> for rows this split does not cover."""
        if self.images is not None:
            values = rows["image_id"].astype(str).map(self.images["split"])
        else:
            values = rows["patient_id"].astype(str).map(self.patients)
        return pd.Series(values.to_numpy(), index=rows.index, name="split", dtype="string")

    def counts(self, rows: pd.DataFrame | None = None) -> dict[str, dict[str, int]]:
        """Patients and images per split (images: of `rows` if given, else of the image list)."""
        patients = {s: int((self.patients == s).sum()) for s in SPLIT_NAMES}
        if rows is not None:
            of = self.of(rows)
            images = {s: int((of == s).sum()) for s in SPLIT_NAMES}
        elif self.images is not None:
            images = {s: int((self.images["split"] == s).sum()) for s in SPLIT_NAMES}
        else:
            images = {}
        return {"patients": patients, "images": images}

    def fingerprint(self, rows: pd.DataFrame | None = None):
        """This split's `cxrbench.data.fingerprint.Fingerprint` (image counts from `rows` if given)."""
        from cxrbench.data.fingerprint import Fingerprint

        return Fingerprint.of(self, rows)

    def save(self, path: str | Path) -> Path:
        """Write the assignment as parquet (atomically): `image_id?, patient_id, split` + metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from cxrbench.data.atomic import atomic_write

        if self.images is not None:
            table = self.images.rename_axis("image_id").reset_index()
        else:
            table = pd.DataFrame({"patient_id": self.patients.index, "split": self.patients.to_numpy()})
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        arrow = arrow.replace_schema_metadata({b"cxrbench.source": self.source.encode(),
                                               b"cxrbench.scheme": self.scheme.encode()})
        return atomic_write(path, lambda fh: pq.write_table(arrow, fh))

    @classmethod
    def load(cls, path: str | Path) -> Split:
        """Read a split written by `save` (e.g. by `cxrbench data import-split`)."""
        import pyarrow.parquet as pq

        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: split file not found")
        try:
            arrow = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a non-parquet file
            raise DataError(f"{path}: not a cxrbench split file ({exc})") from None
        meta = arrow.schema.metadata or {}
        source = meta.get(b"cxrbench.source", b"unknown").decode()
        scheme = meta.get(b"cxrbench.scheme", path.stem).decode()
        table = arrow.to_pandas()
        if "image_id" in table.columns:
            return cls.from_image_table(table, source, scheme)
        return cls(source, scheme, table.set_index("patient_id")["split"].astype(str).rename("split"))

    def __post_init__(self) -> None:
        bad = set(pd.unique(self.patients.to_numpy())) - set(SPLIT_NAMES)
        if bad:
            raise DataError(f"split {self.scheme!r}: unknown split name(s) {sorted(map(str, bad))}")


def split_rows(rows: pd.DataFrame, scheme: str | Split = HASH_SCHEME) -> dict[str, pd.DataFrame]:
    """Rows grouped by split: {"train": ..., "val": ..., "test": ...} (empty frames where none).

    `scheme` is `"cxrbench"` (patient hash) or a `Split` (a source's official split, an imported
    list). Rows a Split does not cover are left out.
    """
    of = assign_splits(rows["patient_id"], scheme) if isinstance(scheme, str) else scheme.of(rows)
    return {name: rows[(of == name).fillna(False).to_numpy()].reset_index(drop=True) for name in SPLIT_NAMES}
