"""CheXpert (Stanford): `train.csv` / `valid.csv` in the full-size or `-small` layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.data.demographics import race_groups, sex_codes
from cxrbench.data.sources.base import TableSource, existing_root
from cxrbench.data.tables import check_unique, find_file, parse_labels, read_table, require_columns
from cxrbench.errors import DataError, SchemaError
from cxrbench.schema import PATHOLOGIES, RACES, validate_canonical

LAYOUTS = ("CheXpert-v1.0", "CheXpert-v1.0-small")
PARTITIONS = ("train", "valid")
CSV_COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA") + PATHOLOGIES
DEMOGRAPHICS_NAMES = ("CHEXPERT DEMO.xlsx", "CHEXPERT DEMO.csv", "chexpert_demo.csv", "demographics.csv")
DEMOGRAPHICS_COLUMNS = ("PATIENT", "GENDER", "AGE_AT_CXR", "PRIMARY_RACE", "ETHNICITY")
_PATH_PATTERN = (r"^(?:[^/]+/)?(?P<image_id>(?:train|valid|test)/(?P<patient_id>patient[0-9]+)/"
                 r"(?P<study>study[0-9]+)/[^/]+)$")


def parse_chexpert_path(paths: pd.Series, where: str) -> pd.DataFrame:
    """`image_id` (the path without its layout folder), `patient_id`, `study_id` from CheXpert paths.

    The image id is the same in both layouts, so splits and fingerprints do not depend on which
    one a user downloaded. SchemaError names the first path that does not look like CheXpert's.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    # pyarrow's RE2 does the 220k-row extract in milliseconds (pandas' takes seconds).
    text = pc.utf8_trim_whitespace(pc.replace_substring(pa.array(paths.astype(str).to_numpy(), pa.string()), "\\", "/"))
    parts = pc.extract_regex(text, _PATH_PATTERN)
    bad = np.asarray(parts.is_null().to_numpy(zero_copy_only=False))
    if bad.any():
        i = int(np.argmax(bad))
        raise SchemaError(f"{where}: line {i + 2}: path {paths.iloc[i]!r} is not "
                          "<layout>/<train|valid>/patientNNNNN/studyN/<file>")
    field = {name: parts.field(name).to_numpy(zero_copy_only=False) for name in ("image_id", "patient_id", "study")}
    study_id = np.char.add(np.char.add(field["patient_id"].astype(str), "/"), field["study"].astype(str))
    return pd.DataFrame({"image_id": field["image_id"], "patient_id": field["patient_id"], "study_id": study_id},
                        index=paths.index).astype("string")


class CheXpertSource(TableSource):
    """CheXpert (Stanford): train.csv / valid.csv, full-size or -small layout; race from an optional demographics file."""

    name = "chexpert"
    site = "stanford"

    def __init__(self, root, partitions: tuple[str, ...] = ("train",), demographics=None):
        base = existing_root(root, "chexpert")
        self.dataset_dir = self._find_dataset_dir(base)
        unknown = set(partitions) - set(PARTITIONS)
        if unknown or not partitions:
            raise DataError(f"chexpert: unknown partition(s) {sorted(unknown)}; choose from {PARTITIONS}")
        self.partitions = tuple(partitions)
        self.demographics = Path(demographics) if demographics else self._find_demographics()
        self._frontal_mask: np.ndarray | None = None

    @staticmethod
    def _find_dataset_dir(base: Path) -> Path:
        for folder in (base, *(base / layout for layout in LAYOUTS)):
            if find_file(folder, ("train.csv", "valid.csv"), "", required=False):
                return folder
        raise DataError(f"chexpert: {base} holds no train.csv or valid.csv (nor {' or '.join(LAYOUTS)}/ with them)")

    def _find_demographics(self) -> Path | None:
        for folder in (self.dataset_dir, self.dataset_dir.parent):
            for name in DEMOGRAPHICS_NAMES:
                if (folder / name).is_file():
                    return folder / name
        return None

    @property
    def layout(self) -> str:
        """`small` or `full`: from the folder name, else from the layout folder the CSV's paths name."""
        if self.dataset_dir.name.endswith("-small"):
            return "small"
        first = str(self.rows(frontal_only=False)["path"].iloc[0]).replace("\\", "/").split("/")[0]
        return "small" if first.endswith("-small") else "full"

    @property
    def cache_namespace(self) -> str:
        return "chexpert-small" if self.layout == "small" else "chexpert"

    def image_path(self, row: pd.Series) -> Path:
        return self.dataset_dir / str(row["image_id"])

    def _frontal(self, rows: pd.DataFrame) -> np.ndarray:
        # CheXpert's own Frontal/Lateral column decides (17 frontal films have no AP/PA).
        return self._frontal_mask

    def _read_all(self) -> pd.DataFrame:
        frames = []
        for partition in self.partitions:
            path = find_file(self.dataset_dir, (f"{partition}.csv",), f"chexpert partition {partition!r}")
            frames.append(self._read_csv(path))
        table = pd.concat(frames, ignore_index=True)
        check_unique(table["image_id"], "image path", " + ".join(f"{p}.csv" for p in self.partitions))
        if self.demographics is not None:
            table = self._add_demographics(table)
        self._frontal_mask = table.pop("_frontal").to_numpy(dtype=bool)
        return validate_canonical(table, where=f"chexpert ({self.dataset_dir})")

    def _read_csv(self, path: Path) -> pd.DataFrame:
        raw = read_table(path)
        require_columns(raw, CSV_COLUMNS, path)
        check_unique(raw["Path"], "Path", path)
        ids = parse_chexpert_path(raw["Path"], str(path))
        labels = parse_labels(raw, PATHOLOGIES, path)
        frontal_lateral = raw["Frontal/Lateral"].astype("string").str.strip().str.lower()
        ap_pa = raw["AP/PA"].astype("string").str.strip().str.upper()
        view = pd.Series("UNKNOWN", index=raw.index, dtype="string")
        view[ap_pa.isin(["AP", "PA"]).fillna(False)] = ap_pa
        view[(frontal_lateral == "lateral").fillna(False)] = "LATERAL"
        table = pd.DataFrame({
            **ids, "source": self.name, "site": self.site, "path": raw["Path"].astype("string"),
            "view": view, "sex": sex_codes(raw["Sex"]), "age": pd.to_numeric(raw["Age"], errors="coerce"),
            "race": RACES[-1],
        })
        table = pd.concat([table, labels], axis=1)
        table["_frontal"] = (frontal_lateral == "frontal").fillna(False).to_numpy()
        return table

    def _add_demographics(self, table: pd.DataFrame) -> pd.DataFrame:
        path = self.demographics
        demo = read_table(path)
        require_columns(demo, ("PATIENT", "PRIMARY_RACE"), path)
        demo["PATIENT"] = demo["PATIENT"].astype("string").str.strip()
        check_unique(demo["PATIENT"], "PATIENT", path)
        demo = demo.set_index("PATIENT")
        table["race"] = race_groups(table["patient_id"].map(demo["PRIMARY_RACE"]))
        if "GENDER" in demo.columns:  # the CSV's own Sex wins; demographics fill its blanks
            fill = sex_codes(table["patient_id"].map(demo["GENDER"]).fillna(""))
            table["sex"] = table["sex"].where(table["sex"] != "U", fill)
        if "AGE_AT_CXR" in demo.columns:
            fill = pd.to_numeric(table["patient_id"].map(demo["AGE_AT_CXR"]), errors="coerce")
            table["age"] = table["age"].where(table["age"].notna(), fill)
        return table
