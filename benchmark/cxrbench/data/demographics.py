"""Mapping the ways datasets spell sex, race and view onto the canonical vocabularies."""

from __future__ import annotations

import re

import pandas as pd

from cxrbench.schema import RACES

AIAN, ASIAN, BLACK, PACIFIC, WHITE, OTHER = RACES

# Order matters: the first keyword found decides ("Native Hawaiian" is Pacific Islander, not
# American Indian; "Asian, Pacific Islander"-style mixes fall to Pacific Islander first).
_RACE_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("american indian", AIAN), ("alaska", AIAN), ("native american", AIAN),
    ("pacific islander", PACIFIC), ("hawaiian", PACIFIC),
    ("asian", ASIAN),
    ("black", BLACK), ("african", BLACK),
    ("white", WHITE), ("caucasian", WHITE),
)


def race_group(value) -> str:
    """One of RACES for a free-text race (CheXpert PRIMARY_RACE, MIMIC-IV race, hospital exports)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return OTHER
    text = str(value).strip()
    if text in RACES:
        return text
    lower = text.lower()
    if _has_word(lower, ("multiple", "unknown", "declined", "refused", "unable")):
        return OTHER
    for keyword, group in _RACE_KEYWORDS:
        if _has_word(lower, (keyword,)):
            return group
    return OTHER


def _has_word(text: str, keywords: tuple[str, ...]) -> bool:
    # Whole words only: "Caucasian" must not match "asian".
    return any(re.search(rf"\b{re.escape(k)}\b", text) for k in keywords)


def race_groups(values: pd.Series) -> pd.Series:
    """`race_group` over a Series (computed once per distinct value)."""
    lookup = {v: race_group(v) for v in pd.unique(values.to_numpy())}
    return values.map(lookup).astype("string")


_SEX = {"f": "F", "female": "F", "woman": "F", "m": "M", "male": "M", "man": "M"}


def sex_codes(values: pd.Series) -> pd.Series:
    """F / M / U from Female/Male/F/M/… (anything else, including blanks, is U)."""
    lookup = {v: _SEX.get(str(v).strip().lower(), "U") for v in pd.unique(values.to_numpy())}
    return values.map(lookup).astype("string")


_VIEW = {"pa": "PA", "ap": "AP", "lateral": "LATERAL", "ll": "LATERAL", "lat": "LATERAL",
         "rl": "LATERAL"}


def view_codes(values: pd.Series) -> pd.Series:
    """PA / AP / LATERAL / UNKNOWN from view-position strings (blank and other positions: UNKNOWN)."""
    lookup = {v: _VIEW.get(str(v).strip().lower(), "UNKNOWN") for v in pd.unique(values.to_numpy())}
    return values.map(lookup).astype("string")
