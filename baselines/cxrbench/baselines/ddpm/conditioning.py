"""Condition rows → the fixed-length vector the reference DDPM is conditioned on.

Layout (`CONDITION_FEATURES` names every entry, `CONDITION_DIM` = 54):
- per CheXpert label, three indicators (positive, uncertain, negative); NaN = not mentioned = all zero;
- age in decades / 10 (so 0..1.2) and an "age missing" flag;
- sex one-hot (F, M); U → zeros;
- race one-hot over the study's 5 groups; Other/Unknown → zeros;
- view one-hot (PA, AP, LATERAL); UNKNOWN → zeros.
`site` is accepted but ignored: a generator is trained on one site's training split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cxrbench.errors import SchemaError
from cxrbench.schema import PATHOLOGIES, RACES, SEXES, VIEWS

CONDITION_COLUMNS: tuple[str, ...] = PATHOLOGIES + ("age", "sex", "race", "view")
_LABEL_STATES = ((1.0, "positive"), (-1.0, "uncertain"), (0.0, "negative"))
_SEX_GROUPS = ("F", "M")
_RACE_GROUPS = RACES[:5]
_VIEW_GROUPS = ("PA", "AP", "LATERAL")
MAX_AGE = 120.0

CONDITION_FEATURES: tuple[str, ...] = (
    tuple(f"{label}={state}" for label in PATHOLOGIES for _, state in _LABEL_STATES)
    + ("age_decades/10", "age_missing")
    + tuple(f"sex={s}" for s in _SEX_GROUPS)
    + tuple(f"race={r}" for r in _RACE_GROUPS)
    + tuple(f"view={v}" for v in _VIEW_GROUPS)
)
CONDITION_DIM = len(CONDITION_FEATURES)


def _one_hot(values: pd.Series, groups: tuple[str, ...], allowed: tuple[str, ...], column: str) -> np.ndarray:
    text = values.astype("string")
    known = text.isna() | text.isin(allowed)
    if not known.all():
        row = int(np.argmax(~known.to_numpy()))
        raise SchemaError(f"conditions: column {column!r} row {row} has {values.iloc[row]!r}; "
                          f"allowed: {', '.join(allowed)}")
    return np.stack([(text == g).fillna(False).to_numpy(bool) for g in groups], axis=1).astype(np.float32)


def condition_matrix(conditions: pd.DataFrame) -> np.ndarray:
    """Validate condition rows and return float32 (N, CONDITION_DIM); SchemaError names the fault."""
    if not isinstance(conditions, pd.DataFrame):
        raise SchemaError(f"conditions must be a pandas DataFrame, got {type(conditions).__name__}")
    missing = [c for c in CONDITION_COLUMNS if c not in conditions.columns]
    if missing:
        raise SchemaError(f"conditions: missing column(s): {', '.join(missing)}")
    n = len(conditions)
    parts = []
    labels = conditions[list(PATHOLOGIES)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    raw = conditions[list(PATHOLOGIES)].to_numpy(object)
    unparsable = np.isnan(labels) & ~pd.isna(raw)
    bad = unparsable | ~(np.isnan(labels) | np.isin(labels, [v for v, _ in _LABEL_STATES]))
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise SchemaError(f"conditions: column {PATHOLOGIES[col]!r} row {row} has label value "
                          f"{raw[row, col]!r}; allowed: 1, 0, -1 or blank")
    per_label = np.stack([labels == v for v, _ in _LABEL_STATES], axis=2)  # (N, 14, 3)
    parts.append(per_label.reshape(n, -1).astype(np.float32))
    age = pd.to_numeric(conditions["age"], errors="coerce").to_numpy(np.float64)
    bad_age = (~np.isnan(age) & ((age < 0) | (age > MAX_AGE))) | (np.isnan(age) & ~pd.isna(conditions["age"]).to_numpy())
    if bad_age.any():
        row = int(np.argmax(bad_age))
        raise SchemaError(f"conditions: column 'age' row {row} has {conditions['age'].iloc[row]!r}; "
                          f"allowed: 0 to {MAX_AGE:g} years or blank")
    missing_age = np.isnan(age)
    decade = np.where(missing_age, 0.0, np.floor(np.nan_to_num(age) / 10.0) / 10.0)
    parts.append(np.stack([decade, missing_age], axis=1).astype(np.float32))
    parts.append(_one_hot(conditions["sex"], _SEX_GROUPS, SEXES, "sex"))
    parts.append(_one_hot(conditions["race"], _RACE_GROUPS, RACES, "race"))
    parts.append(_one_hot(conditions["view"], _VIEW_GROUPS, VIEWS, "view"))
    out = np.concatenate(parts, axis=1)
    assert out.shape == (n, CONDITION_DIM)
    return out


def encode_conditions(conditions: pd.DataFrame) -> torch.Tensor:
    """Condition rows → float32 tensor (N, CONDITION_DIM) (see the module docstring for the layout)."""
    return torch.from_numpy(condition_matrix(conditions))
