"""Sampled labels and demographics match the committed CheXpert figures; sites shift them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cxrbench.data.phantom import PhantomSource, chexpert_stats, sample_conditions, sample_patients
from cxrbench.data.phantom.population import STATS_PATH
from cxrbench.errors import ConfigError
from cxrbench.schema import PATHOLOGIES, RACES

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def site_a():
    return sample_patients("site-a", 4000, seed=1)


def expected(stats: dict, name: str, state: str) -> float:
    return sum(stats["view_fraction"][v] * stats["label_rates"][v][name][state] for v in ("AP", "PA"))


def test_prevalences_and_uncertainty_rates_match_the_figures(site_a):
    stats = chexpert_stats()
    n = len(site_a)
    for name in PATHOLOGIES:
        for state, value in (("pos", 1.0), ("unc", -1.0), ("neg", 0.0)):
            target = expected(stats, name, state)
            # patients contribute several correlated studies: allow ~3x the binomial sd, and 0.01
            tol = max(0.01, 6 * np.sqrt(target * (1 - target) / n))
            got = float((site_a[name] == value).mean())
            assert abs(got - target) < tol, f"{name} {state}: sampled {got:.4f}, CheXpert {target:.4f}"


def test_co_occurrence_follows_the_pattern_table(site_a):
    stats = chexpert_stats()
    positive = (site_a[list(PATHOLOGIES)] == 1).to_numpy()
    masks = (positive.astype(np.int64) << np.arange(len(PATHOLOGIES))).sum(axis=1)
    counts = np.array([[c[1] + c[2]] for c in stats["patterns"]])[:, 0]
    top = np.array([c[0] for c in stats["patterns"]])[np.argsort(-counts)[:5]]
    share = counts[np.argsort(-counts)[:5]] / counts.sum()
    for mask, target in zip(top, share):
        assert abs((masks == mask).mean() - target) < 0.02
    # a strong real dependency: effusion is commoner with edema than without
    edema = site_a["Edema"] == 1
    effusion = site_a["Pleural Effusion"] == 1
    assert effusion[edema].mean() > effusion[~edema].mean() + 0.1
    assert not (positive[:, 0] & positive[:, 1:13].any(axis=1)).any()  # No Finding excludes findings


def test_demographics_match_the_figures(site_a):
    stats = chexpert_stats()
    assert abs((site_a["view"] == "AP").mean() - stats["view_fraction"]["AP"]) < 0.03
    female = sum(stats["view_fraction"][v] * stats["female_fraction"][v] for v in ("AP", "PA"))
    patients = site_a.drop_duplicates("patient")
    assert abs((patients["sex"] == "F").mean() - female) < 0.03
    ages = np.arange(stats["age_range"][0], stats["age_range"][1] + 1)
    hist = sum(np.array(stats["age_histogram"][v][s]) for v in ("AP", "PA") for s in ("F", "M"))
    assert abs(site_a["age"].mean() - (ages * hist).sum() / hist.sum()) < 2.0
    assert set(site_a["race"]) <= set(RACES)


def test_patients_have_several_studies_and_shared_demographics(site_a):
    per_patient = site_a.groupby("patient").size()
    hist = np.array(chexpert_stats()["studies_per_patient_histogram"], dtype=float)
    assert abs(per_patient.mean() - (np.arange(1, len(hist) + 1) * hist).sum() / hist.sum()) < 0.2
    assert (per_patient > 1).mean() > 0.3
    grouped = site_a.groupby("patient")
    assert (grouped["sex"].nunique() == 1).all() and (grouped["race"].nunique() == 1).all()
    assert (grouped["age"].agg(lambda a: np.all(np.diff(a.to_numpy()) >= 0))).all()


def test_patient_k_does_not_depend_on_how_many_are_drawn():
    small = sample_patients("site-b", 10, seed=4)
    large = sample_patients("site-b", 50, seed=4)
    assert small.equals(large[large["patient"] < 10].reset_index(drop=True))
    assert not small.equals(sample_patients("site-b", 10, seed=5))


def test_sites_shift_prevalence_moderately():
    a = sample_patients("site-a", 2000, seed=0)
    b = sample_patients("site-b", 2000, seed=0)
    c = sample_patients("site-c", 2000, seed=0)
    sd = lambda df: (df["Support Devices"] == 1).mean()  # noqa: E731
    assert sd(b) < sd(a) - 0.1 and sd(c) > sd(a) + 0.05
    assert (b["view"] == "PA").mean() > 0.45 and (c["view"] == "AP").mean() > 0.9
    for name in PATHOLOGIES:  # moderate: no label more than ~2.2x or less than half as common
        pa, pb = (a[name] == 1).mean(), (b[name] == 1).mean()
        assert 0.45 < (pb + 0.005) / (pa + 0.005) < 2.2, name


def test_race_mix_is_configurable():
    rows = sample_patients("site-a", 3000, seed=2, race_mix={"Black": 1, "Asian": 1})
    share = rows.drop_duplicates("patient")["race"].value_counts(normalize=True)
    assert set(share.index) == {"Black", "Asian"} and abs(share["Black"] - 0.5) < 0.05
    with pytest.raises(ConfigError, match="Martian"):
        sample_patients("site-a", 3, race_mix={"Martian": 1.0})
    with pytest.raises(ConfigError, match="race_mix"):
        PhantomSource("site-a", n_patients=3, race_mix={"White": -1.0})


def test_sample_conditions_are_condition_rows():
    rows = sample_conditions(50, site="site-c", seed=0)
    assert list(rows.columns) == list(PATHOLOGIES) + ["age", "sex", "race", "view", "site"]
    assert len(rows) == 50 and (rows["site"] == "site-c").all()
    with pytest.raises(ConfigError, match="unknown phantom site 'site-q'"):
        sample_conditions(5, site="site-q")
    with pytest.raises(ConfigError, match="n_patients"):
        sample_patients("site-a", -1)


def test_committed_figures_are_what_the_script_derives(shared_data, tmp_path):
    out = tmp_path / "stats.json"
    subprocess.run([sys.executable, str(REPO / "tools" / "derive_phantom_stats.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert json.loads(out.read_text()) == json.loads(STATS_PATH.read_text())
