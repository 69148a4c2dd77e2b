"""Any hospital's export (Emory's, for instance): one CSV plus a YAML file that maps its columns.

Example `mapping.yaml`::

    name: emory                  # source name: cache namespace, fingerprint file name
    site: emory                  # site label carried by every row
    image_root: images           # folder the path column is relative to (default: the CSV's folder)
    columns:                     # canonical field: column in the CSV
      patient_id: empi_anon      # required
      path: png_path             # required
      image_id: image_uid        # optional (default: the path)
      study_id: acc_anon         # optional (default: the patient id)
      view: ViewPosition         # optional (default: UNKNOWN)
      sex: gender                # optional (default: U)
      age: age_at_study          # optional (default: blank)
      race: race                 # optional (default: Other/Unknown)
    labels:                      # canonical label: column; labels not listed are blank (NaN)
      Cardiomegaly: cardiomegaly
      Pleural Effusion: effusion
    label_values: {positive: 1, negative: 0, uncertain: -1}   # optional extra spellings
    views: {PA: PA, AP: AP, LL: LATERAL}   # optional raw → canonical view (default: common spellings)
    frontal_views: [PA, AP]      # which canonical views count as frontal
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cxrbench.data.demographics import race_groups, sex_codes, view_codes
from cxrbench.data.sources.base import TableSource
from cxrbench.data.tables import check_unique, parse_labels, read_table, require_columns
from cxrbench.errors import ConfigError, DataError, load_yaml_model, pydantic_problems
from cxrbench.schema import PATHOLOGIES, RACES, VIEWS, validate_canonical


class ColumnMap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: str
    path: str
    image_id: str | None = None
    study_id: str | None = None
    view: str | None = None
    sex: str | None = None
    age: str | None = None
    race: str | None = None


class CSVMapping(BaseModel):
    """The mapping file, validated; see the module docstring for an example."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    site: str | None = None
    image_root: str | None = None
    columns: ColumnMap
    labels: dict[str, str] = {}
    label_values: dict[str, float] = {}
    views: dict[str, str] | None = None
    frontal_views: list[str] = ["PA", "AP"]

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = [k for k in value if k not in PATHOLOGIES]
        if unknown:
            raise ValueError(f"unknown label(s) {unknown}; canonical labels: {', '.join(PATHOLOGIES)}")
        return value

    @field_validator("views")
    @classmethod
    def _known_views(cls, value):
        bad = [v for v in (value or {}).values() if v not in VIEWS]
        if bad:
            raise ValueError(f"view(s) {bad} are not canonical; allowed: {', '.join(VIEWS)}")
        return value

    @classmethod
    def load(cls, mapping) -> CSVMapping:
        if isinstance(mapping, CSVMapping):
            return mapping
        if not isinstance(mapping, dict):
            return load_yaml_model(Path(mapping), cls, ConfigError, what="a column mapping")
        try:
            return cls.model_validate(mapping)
        except ValidationError as exc:
            raise ConfigError(f"mapping: {pydantic_problems(exc)}") from None


class CSVSource(TableSource):
    """A hospital export (one CSV) read through a column-mapping YAML file."""

    def __init__(self, csv, mapping):
        if csv is None:
            raise DataError("csv: no CSV given (pass --root FILE.csv and --mapping FILE.yaml)")
        self.csv = Path(csv).expanduser()
        if not self.csv.is_file():
            raise DataError(f"csv: {self.csv} does not exist")
        if mapping is None:
            raise ConfigError(f"csv: {self.csv} needs a column mapping (--mapping FILE.yaml)")
        self.mapping = CSVMapping.load(mapping)
        self.name = self.mapping.name
        root = Path(self.mapping.image_root) if self.mapping.image_root else Path(".")
        self.image_root = root if root.is_absolute() else self.csv.parent / root

    @property
    def cache_namespace(self) -> str:
        return f"csv-{self.name}"

    def image_path(self, row: pd.Series) -> Path:
        return self.image_root / str(row["path"])

    def _frontal(self, rows: pd.DataFrame) -> np.ndarray:
        return rows["view"].isin(self.mapping.frontal_views).to_numpy()

    def _read_all(self) -> pd.DataFrame:
        m, path = self.mapping, self.csv
        raw = read_table(path)
        cols = m.columns
        wanted = [c for c in cols.model_dump().values() if c] + list(m.labels.values())
        require_columns(raw, wanted, path)

        def text(column: str | None, default) -> pd.Series:
            if column is None:
                return pd.Series(default, index=raw.index, dtype="string")
            return raw[column].astype("string").str.strip()

        patient = text(cols.patient_id, None)
        empty = patient.isna() | (patient == "")
        if empty.any():
            raise DataError(f"{path}: column {cols.patient_id!r} line {int(np.argmax(empty.to_numpy())) + 2} is empty")
        image_path = text(cols.path, None)
        image_id = text(cols.image_id, None) if cols.image_id else image_path
        check_unique(image_id, f"image id (column {cols.image_id or cols.path!r})", path)
        if cols.view is None:
            view = pd.Series("UNKNOWN", index=raw.index, dtype="string")
        elif m.views is not None:
            view = text(cols.view, "").map(m.views).fillna("UNKNOWN").astype("string")
        else:
            view = view_codes(text(cols.view, "").fillna(""))
        labels = parse_labels(raw, list(m.labels.values()), path, values={str(k): v for k, v in m.label_values.items()})
        labels.columns = list(m.labels)
        table = pd.DataFrame({
            "image_id": image_id, "patient_id": patient,
            "study_id": text(cols.study_id, None) if cols.study_id else patient,
            "source": self.name, "site": m.site or self.name, "path": image_path, "view": view,
            "sex": sex_codes(text(cols.sex, "").fillna("")) if cols.sex else "U",
            "age": pd.to_numeric(raw[cols.age], errors="coerce") if cols.age else np.nan,
            "race": race_groups(raw[cols.race]) if cols.race else RACES[-1],
        })
        for label in PATHOLOGIES:
            table[label] = labels[label] if label in labels.columns else np.nan
        return validate_canonical(table, where=f"csv source {self.name!r} ({path})")
