"""Turning published split lists (files of `Path,PID` rows) into a cxrbench `Split`.

A study's lists name images by their dataset path; they are mapped to the same image and
patient ids the source uses, so an imported split selects rows of `Source.rows()` directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.data.sources.chexpert import parse_chexpert_path
from cxrbench.data.splits import SPLIT_NAMES, Split
from cxrbench.data.tables import read_table
from cxrbench.errors import ConfigError, DataError

PATH_COLUMNS = ("Path", "path")
PATIENT_COLUMNS = ("PID", "subject_id", "patient_id")
_MIMIC_PATH = r"^(?:.*/)?p[0-9]{2}/p([0-9]+)/s([0-9]+)/([^/]+)\.jpg$"


def _pick(df: pd.DataFrame, names: tuple[str, ...], path: Path, what: str) -> str | None:
    for name in names:
        if name in df.columns:
            return name
    if what:
        raise DataError(f"{path}: no {what} column (looked for {', '.join(names)}); "
                        f"columns present: {', '.join(df.columns)}")
    return None


def read_split_list(path: str | Path, source: str) -> pd.DataFrame:
    """`image_id, patient_id` for each row of a published list, in `source`'s id conventions.

    CheXpert: the path gives both ids and a PID column, if present, must agree with the path's
    patient number. MIMIC: the path (`pXX/pSUBJECT/sSTUDY/DICOM.jpg`) gives the dicom id and
    subject. Other sources: the path is the image id and the PID column the patient id.
    """
    path = Path(path)
    raw = read_table(path)
    path_col = _pick(raw, PATH_COLUMNS, path, "image path")
    patient_col = _pick(raw, PATIENT_COLUMNS, path, "" if source in ("chexpert", "mimic") else "patient id")
    paths = raw[path_col].astype("string").str.strip()
    if source == "chexpert":
        ids = parse_chexpert_path(paths, str(path))
        if patient_col is not None:
            pid = pd.to_numeric(raw[patient_col], errors="coerce")
            from_path = pd.to_numeric(ids["patient_id"].str.removeprefix("patient"), errors="coerce")
            bad = (pid != from_path).to_numpy()
            if bad.any():
                i = int(np.argmax(bad))
                raise DataError(f"{path}: line {i + 2}: {patient_col} {raw[patient_col].iloc[i]!r} does not "
                                f"match the patient in path {paths.iloc[i]!r}")
        return ids[["image_id", "patient_id"]].reset_index(drop=True)
    if source == "mimic":
        parts = paths.str.extract(_MIMIC_PATH)
        bad = parts[0].isna()
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise DataError(f"{path}: line {i + 2}: path {paths.iloc[i]!r} is not pXX/pSUBJECT/sSTUDY/DICOM.jpg")
        if patient_col is not None:
            mismatch = (raw[patient_col].astype("string").str.strip() != parts[0]).to_numpy()
            if mismatch.any():
                i = int(np.argmax(mismatch))
                raise DataError(f"{path}: line {i + 2}: {patient_col} {raw[patient_col].iloc[i]!r} does not "
                                f"match the subject in path {paths.iloc[i]!r}")
        return pd.DataFrame({"image_id": parts[2], "patient_id": parts[0]}).reset_index(drop=True)
    patient = raw[patient_col].astype("string").str.strip()
    return pd.DataFrame({"image_id": paths, "patient_id": patient}).reset_index(drop=True)


def import_split(lists: dict[str, str | Path], source: str, scheme: str = "paper") -> Split:
    """An image-level Split from one list file per split name (`train`, `val`, `test`).

    Raises DataError if an image is listed twice or a patient appears in two splits.
    """
    if not lists:
        raise ConfigError("import-split: give at least one list, e.g. train=cxp_tr.csv.gz")
    unknown = set(lists) - set(SPLIT_NAMES)
    if unknown:
        raise ConfigError(f"import-split: unknown split name(s) {sorted(unknown)}; use {', '.join(SPLIT_NAMES)}")
    frames = []
    for split_name, file in lists.items():
        table = read_split_list(file, source)
        table["split"] = split_name
        frames.append(table)
    return Split.from_image_table(pd.concat(frames, ignore_index=True), source, scheme)
