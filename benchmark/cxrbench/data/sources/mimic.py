"""MIMIC-CXR-JPG (Beth Israel Deaconess): metadata, CheXpert/NegBio labels, official split,
optional MIMIC-IV `patients` / `admissions` for age, sex and race."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.data.demographics import race_groups, sex_codes, view_codes
from cxrbench.data.sources.base import TableSource, existing_root
from cxrbench.data.splits import HASH_SCHEME, Split
from cxrbench.data.tables import check_unique, find_file, parse_labels, read_table, require_columns
from cxrbench.errors import ConfigError, DataError
from cxrbench.schema import PATHOLOGIES, RACES, validate_canonical

PREFIX = "mimic-cxr-2.0.0"
METADATA_COLUMNS = ("dicom_id", "subject_id", "study_id", "ViewPosition")
OFFICIAL_SPLITS = {"train": "train", "validate": "val", "val": "val", "test": "test"}


def mimic_image_path(subject_id: str, study_id: str, dicom_id: str) -> str:
    """`files/pXX/pSUBJECT/sSTUDY/DICOM.jpg`, relative to the MIMIC-CXR-JPG root."""
    return f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}/{dicom_id}.jpg"


class MIMICSource(TableSource):
    """MIMIC-CXR-JPG (BIDMC): metadata + CheXpert/NegBio labels + official split; MIMIC-IV for age, sex, race."""

    name = "mimic"
    site = "bidmc"

    def __init__(self, root, labeler: str = "chexpert", mimic_iv=None):
        self.root = existing_root(root, "mimic")
        if labeler not in ("chexpert", "negbio"):
            raise ConfigError(f"mimic: labeler must be 'chexpert' or 'negbio', got {labeler!r}")
        self.labeler = labeler
        self.mimic_iv = Path(mimic_iv) if mimic_iv else self._find_mimic_iv()

    def _find_mimic_iv(self) -> Path | None:
        for folder in (self.root, self.root / "hosp", self.root / "mimic-iv", self.root / "mimic-iv" / "hosp"):
            if find_file(folder, ("patients.csv",), "", required=False):
                return folder
        return None

    def image_path(self, row: pd.Series) -> Path:
        return self.root / str(row["path"])

    def _read_all(self) -> pd.DataFrame:
        meta_path = find_file(self.root, (f"{PREFIX}-metadata.csv",), "MIMIC-CXR metadata")
        meta = read_table(meta_path)
        require_columns(meta, METADATA_COLUMNS, meta_path)
        check_unique(meta["dicom_id"], "dicom_id", meta_path)
        label_stems = (f"{PREFIX}-{self.labeler}.csv",)
        if self.labeler == "chexpert":
            label_stems += (f"{PREFIX}-negbio.csv",)
        label_path = find_file(self.root, label_stems, f"MIMIC-CXR {self.labeler} labels")
        labels_raw = read_table(label_path)
        require_columns(labels_raw, ("subject_id", "study_id") + PATHOLOGIES, label_path)
        check_unique(labels_raw["subject_id"] + "/" + labels_raw["study_id"], "subject_id/study_id", label_path)
        labels = parse_labels(labels_raw, PATHOLOGIES, label_path)
        labels.index = (labels_raw["subject_id"].str.strip() + "/" + labels_raw["study_id"].str.strip()).to_numpy()

        subject = meta["subject_id"].str.strip()
        study = meta["study_id"].str.strip()
        dicom = meta["dicom_id"].str.strip()
        table = pd.DataFrame({
            "image_id": dicom, "patient_id": subject, "study_id": study,
            "source": self.name, "site": self.site,
            "path": [mimic_image_path(s, t, d) for s, t, d in zip(subject, study, dicom)],
            "view": view_codes(meta["ViewPosition"].fillna("")),
            "sex": "U", "age": np.nan, "race": RACES[-1],
        })
        table = pd.concat([table, labels.reindex((subject + "/" + study).to_numpy()).set_axis(table.index)], axis=1)
        if self.mimic_iv is not None:
            table = self._add_demographics(table, meta)
        return validate_canonical(table, where=f"mimic ({self.root})")

    def _add_demographics(self, table: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
        patients_path = find_file(self.mimic_iv, ("patients.csv",), "MIMIC-IV patients")
        patients = read_table(patients_path)
        require_columns(patients, ("subject_id", "gender", "anchor_age", "anchor_year"), patients_path)
        check_unique(patients["subject_id"], "subject_id", patients_path)
        patients = patients.set_index(patients["subject_id"].str.strip())
        table["sex"] = sex_codes(table["patient_id"].map(patients["gender"]).fillna(""))
        anchor_age = pd.to_numeric(table["patient_id"].map(patients["anchor_age"]), errors="coerce")
        anchor_year = pd.to_numeric(table["patient_id"].map(patients["anchor_year"]), errors="coerce")
        if "StudyDate" in meta.columns:  # age at the study, in MIMIC's shifted calendar
            study_year = pd.to_numeric(meta["StudyDate"].str.strip().str[:4], errors="coerce")
            table["age"] = (anchor_age + (study_year - anchor_year)).to_numpy()
        else:
            table["age"] = anchor_age.to_numpy()
        admissions_path = find_file(self.mimic_iv, ("admissions.csv",), "MIMIC-IV admissions", required=False)
        if admissions_path is not None:
            admissions = read_table(admissions_path)
            race_column = "race" if "race" in admissions.columns else "ethnicity"
            require_columns(admissions, ("subject_id", race_column), admissions_path)
            groups = pd.DataFrame({"subject_id": admissions["subject_id"].str.strip(),
                                   "race": race_groups(admissions[race_column])})
            table["race"] = table["patient_id"].map(_patient_race(groups)).fillna(RACES[-1])
        return table

    def split(self, scheme: str = HASH_SCHEME, *, frontal_only: bool = True) -> Split:
        """`cxrbench` (patient hash) or `official` (mimic-cxr-2.0.0-split.csv; validate → val)."""
        if scheme != "official":
            return super().split(scheme, frontal_only=frontal_only)
        path = find_file(self.root, (f"{PREFIX}-split.csv",), "MIMIC-CXR official split")
        raw = read_table(path)
        require_columns(raw, ("dicom_id", "subject_id", "split"), path)
        names = raw["split"].str.strip().str.lower()
        unknown = ~names.isin(list(OFFICIAL_SPLITS))
        if unknown.any():
            i = int(np.argmax(unknown.to_numpy()))
            raise DataError(f"{path}: column 'split' line {i + 2} has {raw['split'].iloc[i]!r}; "
                            f"allowed: {', '.join(OFFICIAL_SPLITS)}")
        table = pd.DataFrame({"image_id": raw["dicom_id"].str.strip(), "patient_id": raw["subject_id"].str.strip(),
                              "split": names.map(OFFICIAL_SPLITS)})
        kept = set(self.rows(frontal_only=frontal_only)["image_id"])
        return Split.from_image_table(table[table["image_id"].isin(kept)], self.name, "official")


def _patient_race(groups: pd.DataFrame) -> pd.Series:
    """Each subject's most frequent known race group over their admissions (Other/Unknown if none)."""
    known = groups[groups["race"] != RACES[-1]]
    if known.empty:
        return pd.Series(dtype="string")
    counts = known.groupby(["subject_id", "race"]).size().reset_index(name="n")
    counts = counts.sort_values(["subject_id", "n", "race"], ascending=[True, False, True])
    return counts.drop_duplicates("subject_id").set_index("subject_id")["race"]
