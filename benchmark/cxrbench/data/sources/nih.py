"""NIH ChestX-ray14 (NIH Clinical Center): `Data_Entry_2017.csv` (or its `_v2020` release), the
official `train_val_list.txt` / `test_list.txt`, and the PNGs under `images/` (or the
`images_0NN/images/` folders of the Kaggle copy). Downloadable by anyone, no data-use agreement.

NIH's 14 text-mined findings onto cxrbench's CheXpert labels (`FINDING_TO_LABEL`): seven by name,
`Effusion` as Pleural Effusion, `Mass` and `Nodule` together as Lung Lesion and
`Pleural_Thickening` as Pleural Other (what CheXpert's labeler files them under), `No Finding` as
itself. An absent finding is a negative (NIH labels are binary); the four findings without a
cxrbench label (`LEFT_OUT`) are dropped, and the four cxrbench labels NIH does not annotate
(`NOT_ANNOTATED`) stay blank. Age, sex and view come from the CSV; NIH records no race.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.data.demographics import sex_codes, view_codes
from cxrbench.data.sources.base import TableSource, existing_root
from cxrbench.data.splits import HASH_SCHEME, Split
from cxrbench.data.tables import check_unique, find_file, read_table, require_columns
from cxrbench.errors import DataError, SchemaError
from cxrbench.schema import PATHOLOGIES, RACES, validate_canonical

CSV_NAMES = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv")
LIST_FILES = {"train": "train_val_list.txt", "test": "test_list.txt"}
SEX_COLUMNS = ("Patient Gender", "Patient Sex")  # the v2020 release renamed it in some copies
CSV_COLUMNS = ("Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "View Position")
FINDING_TO_LABEL = {
    "Atelectasis": "Atelectasis", "Cardiomegaly": "Cardiomegaly", "Consolidation": "Consolidation",
    "Edema": "Edema", "Pneumonia": "Pneumonia", "Pneumothorax": "Pneumothorax", "No Finding": "No Finding",
    "Effusion": "Pleural Effusion", "Mass": "Lung Lesion", "Nodule": "Lung Lesion",
    "Pleural_Thickening": "Pleural Other",
}
LEFT_OUT = ("Emphysema", "Fibrosis", "Hernia", "Infiltration")  # no cxrbench label
NOT_ANNOTATED = tuple(p for p in PATHOLOGIES if p not in FINDING_TO_LABEL.values())
#: the labels NIH rows carry, in PATHOLOGIES order (the `nih10` label set)
NIH_LABELS = tuple(p for p in PATHOLOGIES if p in FINDING_TO_LABEL.values())
#: column digests of the published releases (`release_digests`), to name what a local CSV changes
RELEASES_FILE = Path(__file__).with_name("nih_releases.json")
#: images of the v2020 release and its official lists (NIH's README)
RELEASE_SIZES = {"images": 112_120, "patients": 30_805, "train": 86_524, "test": 25_596}


class NIHSource(TableSource):
    """NIH ChestX-ray14: Data_Entry_2017(_v2020).csv, official train_val/test lists, images/ PNGs."""

    name = "nih"
    site = "nihcc"

    def __init__(self, root):
        self.root = existing_root(root, "nih")
        self.csv_path = find_file(self.root, CSV_NAMES, "NIH ChestX-ray14 metadata")
        self._folders: dict[str, Path] | None = None

    # ------------------------------------------------------------------ rows
    def _read_all(self) -> pd.DataFrame:
        raw = read_table(self.csv_path)
        require_columns(raw, CSV_COLUMNS, self.csv_path)
        sex_column = next((c for c in SEX_COLUMNS if c in raw.columns), None)
        if sex_column is None:
            require_columns(raw, SEX_COLUMNS[:1], self.csv_path)
        image = raw["Image Index"].str.strip()
        check_unique(image, "Image Index", self.csv_path)
        patient = raw["Patient ID"].str.strip().str.lstrip("0").replace("", "0")
        age = pd.to_numeric(raw["Patient Age"].str.strip().str.rstrip("Yy"), errors="coerce")
        table = pd.DataFrame({
            "image_id": image, "patient_id": patient,
            "study_id": patient + "/" + raw["Follow-up #"].str.strip(),
            "source": self.name, "site": self.site, "path": "images/" + image,
            "view": view_codes(raw["View Position"].fillna("")), "sex": sex_codes(raw[sex_column].fillna("")),
            # the 2017 file holds a few impossible ages (over 120) that the v2020 release corrected
            "age": age.where(age <= 120), "race": RACES[-1],
        })
        table = pd.concat([table, finding_labels(raw["Finding Labels"], self.csv_path)], axis=1)
        return validate_canonical(table, where=f"nih ({self.csv_path})")

    # ------------------------------------------------------------------ pixels
    def image_path(self, row: pd.Series) -> Path:
        name = str(row["image_id"])
        return self.image_files().get(name, self.root / "images" / name)  # a missing file is named by the decoder

    def image_files(self) -> dict[str, Path]:
        """Image name → path over `images/` and the Kaggle layout's `images_0NN/images/` (listed once)."""
        if self._folders is None:
            self._folders = {}
            for folder in [self.root / "images", *sorted(self.root.glob("images_*/images"))]:
                if folder.is_dir():
                    with os.scandir(folder) as entries:
                        self._folders.update({e.name: Path(e.path) for e in entries if e.is_file()})
        return self._folders

    # ------------------------------------------------------------------ splits
    def split(self, scheme: str = HASH_SCHEME, *, frontal_only: bool = True) -> Split:
        """`cxrbench` (patient hash, what the nih tasks use) or `official` (train_val_list → train,
        test_list → test; NIH's lists are patient-level)."""
        if scheme != "official":
            return super().split(scheme, frontal_only=frontal_only)
        parts = []
        for split, name in LIST_FILES.items():
            path = find_file(self.root, (name,), f"NIH official {split} list")
            parts.append(pd.DataFrame({"image_id": read_list(path), "split": split}))
        listed = pd.concat(parts, ignore_index=True)
        rows = self.rows(frontal_only=frontal_only)
        unknown = sorted(set(listed["image_id"]) - set(self.rows(frontal_only=False)["image_id"]))
        if unknown:
            raise DataError(f"{self.root}: {len(unknown):,} image(s) of the official lists are not in "
                            f"{self.csv_path.name}, e.g. {unknown[0]} (lists of another release?)")
        listed["patient_id"] = listed["image_id"].map(rows.set_index("image_id")["patient_id"])
        return Split.from_image_table(listed.dropna(subset=["patient_id"]), self.name, "official")

    # ------------------------------------------------------------------ checks
    def release_problems(self) -> list[str]:
        """What differs from the v2020 release: CSV columns, official lists, image files (empty: none)."""
        problems = compare_release(release_digests(read_table(self.csv_path)), self.csv_path.name)
        for split, name in LIST_FILES.items():
            path = find_file(self.root, (name,), "", required=False)  # optional: only --scheme official reads them
            if path is not None and (n := len(read_list(path))) != RELEASE_SIZES[split]:
                problems.append(f"{name} lists {n:,} images; the release lists {RELEASE_SIZES[split]:,}")
        rows = self.rows(frontal_only=False)
        files = self.image_files()
        missing = [name for name in rows["image_id"] if name not in files]
        if missing:
            problems.append(f"{len(missing):,} of {len(rows):,} images listed in {self.csv_path.name} are not "
                            f"under images/ or images_0NN/images/, e.g. {', '.join(missing[:3])}")
        return problems


def finding_labels(findings: pd.Series, where) -> pd.DataFrame:
    """The `|`-separated `Finding Labels` as cxrbench's 14 label columns (1 / 0 / blank, see module doc)."""
    known = set(FINDING_TO_LABEL) | set(LEFT_OUT)
    lists = findings.fillna("").str.strip().str.split("|")
    names = lists.explode().str.strip()
    unknown = names[~names.isin(known)]
    if len(unknown):
        i = int(unknown.index[0])
        raise SchemaError(f"{where}: line {i + 2}: finding {unknown.iloc[0]!r} is not one of NIH's 14 findings "
                          f"or 'No Finding' (a CSV of another dataset or release?)")
    out = pd.DataFrame(np.nan, index=findings.index, columns=list(PATHOLOGIES), dtype=np.float32)
    for label in NIH_LABELS:
        sources = [f for f, target in FINDING_TO_LABEL.items() if target == label]
        present = names.isin(sources).groupby(level=0).any()
        out[label] = present.reindex(findings.index, fill_value=False).astype(np.float32)
    return out


def read_list(path: Path) -> list[str]:
    """The image names of an official list file, one per line (blank lines ignored)."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return [line.strip() for line in fh if line.strip()]


def release_digests(raw: pd.DataFrame) -> dict:
    """Row count, patients and a sha256 per column (over rows sorted by image), of a Data_Entry CSV."""
    raw = raw.sort_values("Image Index", kind="stable")
    sex_column = next((c for c in SEX_COLUMNS if c in raw.columns), SEX_COLUMNS[0])
    columns = {"images": "Image Index", "findings": "Finding Labels", "patients": "Patient ID",
               "ages": "Patient Age", "sexes": sex_column, "views": "View Position", "follow-ups": "Follow-up #"}
    digests = {what: hashlib.sha256("\n".join(raw[col].astype(str).str.strip()).encode()).hexdigest()
               for what, col in columns.items() if col in raw.columns}
    return {"rows": len(raw), "patients": int(raw["Patient ID"].nunique()), "sha256": digests}


def compare_release(local: dict, csv_name: str) -> list[str]:
    """Lines naming how `local` digests differ from the committed v2020 release's (empty: the same)."""
    release = json.loads(RELEASES_FILE.read_text())
    name, want = release["name"], release["digests"]
    if local == want:
        return []
    problems = []
    if local["rows"] != want["rows"] or local["patients"] != want["patients"]:
        problems.append(f"{csv_name} holds {local['rows']:,} images of {local['patients']:,} patients; the "
                        f"{name} release holds {want['rows']:,} of {want['patients']:,}")
    changed = [what for what, digest in want["sha256"].items() if local["sha256"].get(what) != digest]
    if changed and local["sha256"].get("images") == want["sha256"]["images"]:
        problems.append(f"{csv_name} lists the same images as the {name} release but differs in "
                        f"{', '.join(changed)} (a CSV of another release? the 2017 file's ages were corrected in v2020)")
    elif changed:
        problems.append(f"{csv_name} differs from the {name} release in {', '.join(changed)}")
    return problems
