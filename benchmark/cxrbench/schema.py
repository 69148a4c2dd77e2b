"""The canonical CXR data model every source returns and every stage consumes.

One row per image. Label columns hold 1 (positive), 0 (negative), -1 (uncertain) or NaN
(not mentioned), exactly as CheXpert reports them; uncertainty policies map them for training.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from cxrbench.errors import SchemaError

#: The 14 CheXpert labels, in the order of CheXpert's train.csv.
PATHOLOGIES: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)

#: Label sets a task can score on.
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "all14": PATHOLOGIES,
    "competition5": ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"),
    # what NIH ChestX-ray14 annotates, in CheXpert's names (cxrbench.data.sources.nih.FINDING_TO_LABEL)
    "nih10": ("No Finding", "Cardiomegaly", "Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis",
              "Pneumothorax", "Pleural Effusion", "Pleural Other"),
}

META_COLUMNS: tuple[str, ...] = (
    "image_id", "patient_id", "study_id", "source", "site", "path", "view", "sex", "age", "race",
)
CANONICAL_COLUMNS: tuple[str, ...] = META_COLUMNS + PATHOLOGIES

VIEWS = ("PA", "AP", "LATERAL", "UNKNOWN")
SEXES = ("F", "M", "U")
#: Race groups (the study's five plus unknown).
RACES = (
    "American Indian/Alaska Native", "Asian", "Black", "Pacific Islander", "White", "Other/Unknown",
)
LABEL_VALUES = (1.0, 0.0, -1.0)

UncertaintyPolicy = Literal["ignore", "zeros", "ones"]
UNCERTAINTY_POLICIES: tuple[str, ...] = ("ignore", "zeros", "ones")


def label_set(name: str) -> tuple[str, ...]:
    """The labels of a named label set (`all14`, `competition5`)."""
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise SchemaError(f"unknown label set {name!r}; known: {', '.join(LABEL_SETS)}") from None


def apply_uncertainty(labels: np.ndarray, policy: str) -> np.ndarray:
    """Map raw labels (1/0/-1/NaN) to training targets.

    `ignore`: -1 → NaN (masked out of the loss); `zeros`: -1 → 0; `ones`: -1 → 1.
    NaN (not mentioned) stays NaN under every policy; a trainer treats it as negative or masks
    it, as its recipe says.
    """
    out = np.asarray(labels, dtype=np.float32).copy()
    uncertain = out == -1
    if policy == "ignore":
        out[uncertain] = np.nan
    elif policy == "zeros":
        out[uncertain] = 0.0
    elif policy == "ones":
        out[uncertain] = 1.0
    else:
        raise SchemaError(
            f"unknown uncertainty policy {policy!r}; known: {', '.join(UNCERTAINTY_POLICIES)}"
        )
    return out


def empty_frame() -> pd.DataFrame:
    """A zero-row table with the canonical columns and dtypes."""
    return coerce_dtypes(pd.DataFrame({c: [] for c in CANONICAL_COLUMNS}))


def coerce_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """Give canonical columns their dtypes: strings for ids, float for age and labels."""
    out = df.copy()
    for col in ("image_id", "patient_id", "study_id", "source", "site", "path", "view", "sex", "race"):
        out[col] = out[col].astype("string")
    out["age"] = pd.to_numeric(out["age"], errors="coerce").astype("float32")
    for col in PATHOLOGIES:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float32")
    return out


def validate_canonical(df: pd.DataFrame, *, where: str = "table") -> pd.DataFrame:
    """Check a table against the canonical schema; return it with canonical column order.

    Raises SchemaError naming the missing column, the bad value and its row, or the duplicate id.
    """
    missing = [c for c in CANONICAL_COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(f"{where}: missing canonical column(s): {', '.join(missing)}")
    df = coerce_dtypes(df[list(CANONICAL_COLUMNS)])
    dup = df["image_id"].duplicated(keep=False)
    if dup.any():
        ids = df.loc[dup, "image_id"].unique()[:5].tolist()
        raise SchemaError(f"{where}: duplicate image_id(s): {ids} ({int(dup.sum())} rows)")
    if df["image_id"].isna().any():
        raise SchemaError(f"{where}: empty image_id in row {int(df['image_id'].isna().argmax())}")
    if df["patient_id"].isna().any():
        raise SchemaError(f"{where}: empty patient_id in row {int(df['patient_id'].isna().argmax())}")
    for col in PATHOLOGIES:
        values = df[col].to_numpy()
        bad = ~(np.isnan(values) | np.isin(values, LABEL_VALUES))
        if bad.any():
            row = int(np.argmax(bad))
            raise SchemaError(
                f"{where}: column {col!r} row {row} (image_id {df['image_id'].iloc[row]}) has "
                f"label value {float(values[row]):g}; allowed: 1, 0, -1 or blank"
            )
    bad_view = ~df["view"].isin(VIEWS)
    if bad_view.any():
        row = int(np.argmax(bad_view.to_numpy()))
        raise SchemaError(f"{where}: column 'view' row {row} has {df['view'].iloc[row]!r}; allowed: {VIEWS}")
    bad_sex = ~df["sex"].isin(SEXES)
    if bad_sex.any():
        row = int(np.argmax(bad_sex.to_numpy()))
        raise SchemaError(f"{where}: column 'sex' row {row} has {df['sex'].iloc[row]!r}; allowed: {SEXES}")
    bad_race = ~df["race"].isin(RACES)
    if bad_race.any():
        row = int(np.argmax(bad_race.to_numpy()))
        raise SchemaError(f"{where}: column 'race' row {row} has {df['race'].iloc[row]!r}; allowed: {RACES}")
    return df.reset_index(drop=True)
