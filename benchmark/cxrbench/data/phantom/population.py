"""Phantom patients: labels and demographics drawn from figures derived from real CheXpert.

The figures (`chexpert_stats.json`, written by `scripts/derive_phantom_stats.py`) hold, per
view (AP/PA): the table of positive-label patterns with their counts (co-occurrence), the
rates of -1 / 0 / blank for each non-positive label (by context: No Finding, or 0/1/2/3+ other
positives), the female fraction, age histograms by sex, the number of studies per patient and
how often a follow-up study repeats the previous view and label pattern.

A patient's draws come from its own random stream keyed by (seed, site, patient number), so
patient k is the same whatever `n_patients` is, and rows never depend on how many are drawn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.errors import ConfigError
from cxrbench.schema import PATHOLOGIES, RACES

from .sites import SITES, Site, check_race_mix, get_site

STATS_PATH = Path(__file__).with_name("chexpert_stats.json")
MAX_STUDIES = 20
# uniform draws per patient: 4 patient-level + per study: view keep/draw, pattern keep/draw,
# 14 non-positive states, age increment
_PER_STUDY = 4 + len(PATHOLOGIES) + 1
_DRAWS = 4 + MAX_STUDIES * _PER_STUDY
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@lru_cache(maxsize=1)
def chexpert_stats() -> dict:
    """The committed CheXpert-derived figures."""
    return json.loads(STATS_PATH.read_text())


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A vectorised 64-bit mixing function (SplitMix64 finaliser) for deriving seeds."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def derived_seed(*keys) -> np.ndarray:
    """int64 seeds from integer keys (broadcast), e.g. (source seed, site, patient, study)."""
    h = np.zeros(np.broadcast(*[np.asarray(k) for k in keys]).shape, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in keys:
            h = splitmix64(h ^ np.asarray(k).astype(np.int64).astype(np.uint64))
    return (h >> np.uint64(1)).astype(np.int64)  # non-negative int64


@dataclass(frozen=True)
class LabelModel:
    """Pattern table (with a site's odds shift) and non-positive state rates, per view."""

    masks: np.ndarray  # (P,) int64 bitmasks of positive labels
    cum: dict[str, np.ndarray]  # view → cumulative pattern probabilities (P,)
    nonpos: dict[str, np.ndarray]  # view → (5 buckets, 14, 3) cumulative P(-1), P(-1 or 0), 1


@lru_cache(maxsize=8)
def label_model(site_name: str) -> LabelModel:
    site = SITES[site_name]
    stats = chexpert_stats()
    table = np.array(stats["patterns"], dtype=np.int64)
    masks = table[:, 0]
    bits = (masks[:, None] >> np.arange(len(PATHOLOGIES))) & 1
    odds = np.array([site.label_odds.get(name, 1.0) for name in PATHOLOGIES])
    tilt = np.prod(np.where(bits == 1, odds, 1.0), axis=1)
    cum, nonpos = {}, {}
    for k, view in enumerate(("AP", "PA")):
        w = table[:, 1 + k] * tilt
        cum[view] = np.cumsum(w) / w.sum()
        rates = np.array(stats["nonpositive_state"][view])  # (5, 14, 3)
        rates[rates.sum(axis=2) == 0] = (0.0, 0.0, 1.0)  # never non-positive in that context: blank
        nonpos[view] = np.cumsum(rates / rates.sum(axis=2, keepdims=True), axis=2)
    return LabelModel(masks, cum, nonpos)


def _inverse_cdf(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)


def sample_patients(site: str | Site, n_patients: int, seed: int = 0, *, race_mix: dict | None = None,
                    single_study: bool = False) -> pd.DataFrame:
    """One row per study: patient, study number, the 14 labels (1/0/-1/NaN), age, sex, race, view.

    Demographics are per patient (age grows by up to a year between studies); follow-up studies
    repeat the previous view and label pattern at the rates measured in CheXpert.
    """
    site = get_site(site) if isinstance(site, str) else site
    if isinstance(n_patients, bool) or not isinstance(n_patients, (int, np.integer)) or n_patients < 0:
        raise ConfigError(f"n_patients must be a non-negative integer, got {n_patients!r}")
    mix = check_race_mix(race_mix if race_mix is not None else site.race_mix)
    stats = chexpert_stats()
    model = label_model(site.name)
    site_no = list(SITES).index(site.name)
    keys = derived_seed(seed, site_no, np.arange(n_patients))
    u = np.empty((n_patients, _DRAWS))
    for k in range(n_patients):
        u[k] = np.random.default_rng(int(keys[k])).random(_DRAWS)

    hist = np.array(stats["studies_per_patient_histogram"], dtype=float)
    n_studies = 1 + _inverse_cdf(np.cumsum(hist) / hist.sum(), u[:, 0])
    if single_study:
        n_studies[:] = 1
    study_u = u[:, 4:].reshape(n_patients, MAX_STUDIES, _PER_STUDY)

    # views: a Markov chain whose stationary share of AP films is the site's
    ap = np.empty((n_patients, MAX_STUDIES), dtype=bool)
    ap[:, 0] = study_u[:, 0, 1] < site.ap_fraction
    for j in range(1, MAX_STUDIES):
        keep = study_u[:, j, 0] < stats["followup_same_view"]
        ap[:, j] = np.where(keep, ap[:, j - 1], study_u[:, j, 1] < site.ap_fraction)
    first_view = np.where(ap[:, 0], "AP", "PA")

    female = np.where(ap[:, 0], u[:, 1] < stats["female_fraction"]["AP"], u[:, 1] < stats["female_fraction"]["PA"])
    age0 = np.empty(n_patients)
    lo_age, hi_age = stats["age_range"]
    for view in ("AP", "PA"):
        for sex_code, is_f in (("F", True), ("M", False)):
            sel = (first_view == view) & (female == is_f)
            h = np.array(stats["age_histogram"][view][sex_code], dtype=float)
            age0[sel] = lo_age + _inverse_cdf(np.cumsum(h) / h.sum(), u[sel, 2]) + site.age_shift
    race_cum = np.cumsum([mix[r] for r in RACES])
    race = np.array(RACES, dtype=object)[_inverse_cdf(race_cum, u[:, 3])]

    # label patterns: fresh draw per view, or (same view) a repeat of the previous study's
    pattern = np.empty((n_patients, MAX_STUDIES), dtype=np.int64)
    for j in range(MAX_STUDIES):
        fresh = np.where(ap[:, j], _inverse_cdf(model.cum["AP"], study_u[:, j, 3]),
                         _inverse_cdf(model.cum["PA"], study_u[:, j, 3]))
        if j:
            keep = (study_u[:, j, 2] < stats["followup_same_pattern"]) & (ap[:, j] == ap[:, j - 1])
            fresh = np.where(keep, pattern[:, j - 1], fresh)
        pattern[:, j] = fresh

    taken = np.arange(MAX_STUDIES)[None, :] < n_studies[:, None]
    pid, sno = np.nonzero(taken)
    masks = model.masks[pattern[pid, sno]]
    positive = ((masks[:, None] >> np.arange(len(PATHOLOGIES))) & 1).astype(bool)
    n_other = positive[:, 1:].sum(axis=1)
    bucket = np.where(positive[:, 0], 0, 1 + np.minimum(n_other, 3))
    view = np.where(ap[pid, sno], "AP", "PA")
    state_u = study_u[pid, sno, 4:4 + len(PATHOLOGIES)]
    labels = np.full(positive.shape, np.nan, dtype=np.float32)
    for v in ("AP", "PA"):
        sel = view == v
        cum = model.nonpos[v][bucket[sel]]  # (m, 14, 3)
        uu = state_u[sel]
        labels[sel] = np.where(uu < cum[:, :, 0], -1.0, np.where(uu < cum[:, :, 1], 0.0, np.nan))
    labels[positive] = 1.0
    age_steps = np.cumsum(study_u[:, :, 4 + len(PATHOLOGIES)], axis=1) - study_u[:, :1, 4 + len(PATHOLOGIES)]
    age = np.clip(np.round(age0[pid] + age_steps[pid, sno]), lo_age, hi_age)

    out = pd.DataFrame(labels, columns=list(PATHOLOGIES))
    out.insert(0, "patient", pid)
    out.insert(1, "study", sno + 1)
    out["age"] = age.astype(np.float32)
    out["sex"] = np.where(female[pid], "F", "M")
    out["race"] = race[pid]
    out["view"] = view
    out["site"] = site.name
    return out


def sample_conditions(n: int, site: str = "site-a", seed: int = 0, *, race_mix: dict | None = None) -> pd.DataFrame:
    """`n` independent condition rows (14 labels + age, sex, race, view, site) for `render`."""
    rows = sample_patients(site, n, seed, race_mix=race_mix, single_study=True)
    return rows.drop(columns=["patient", "study"]).reset_index(drop=True)
