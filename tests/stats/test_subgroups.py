"""Subgroup AUROC against sklearn on each group's rows; bands; flags; CIs from materialised resamples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cxrbench.stats import StatsError, subgroup_auroc
from cxrbench.stats._weighted import patient_count_blocks
from cxrbench.stats.subgroups import age_band


def cohort(rng, n_patients=120):
    per = rng.integers(1, 4, n_patients)
    pid = np.repeat(np.arange(n_patients), per)
    n = pid.size
    sex = rng.choice(["F", "M"], n_patients)[pid]
    age = rng.uniform(20, 95, n_patients)[pid]
    y = (rng.random((n, 2)) < 0.4).astype(float)
    y[rng.random((n, 2)) < 0.1] = -1
    harder = np.where(sex == "F", 0.4, 1.2)[:, None]  # the model is worse on F
    s = np.round(harder * np.nan_to_num(y).clip(0) + rng.normal(size=(n, 2)), 1)
    meta = pd.DataFrame({"sex": sex, "age": age, "view": rng.choice(["AP", "PA"], n)})
    return y, s, meta, pid


def sk(y, s):
    keep = (y == 0) | (y == 1)
    return roc_auc_score(y[keep], s[keep]) if len(set(y[keep])) == 2 else np.nan


def test_age_bands_edges_and_unknown():
    got = age_band([0, 39.99, 40, 59.9, 60, 80, 101, np.nan, None, "x"])
    assert list(got) == ["<40", "<40", "40-60", "40-60", "60-80", ">=80", ">=80", "unknown",
                         "unknown", "unknown"]


def test_groups_match_sklearn_and_worst_and_gap():
    rng = np.random.default_rng(31)
    y, s, meta, pid = cohort(rng)
    rep = subgroup_auroc(y, s, meta, labels=["A", "B"])
    assert [a.attribute for a in rep.attributes] == ["sex", "age_band", "view"]
    sex = rep["sex"]
    for g in sex.groups:
        m = (meta["sex"] == g.group).to_numpy()
        want = [sk(y[m, j], s[m, j]) for j in range(2)]
        assert [r.auc for r in g.per_label] == pytest.approx(want, abs=1e-12)
        assert g.macro == pytest.approx(np.mean(want), abs=1e-12) and g.n == m.sum()
        assert g.per_label[0].n_pos == (y[m, 0] == 1).sum()
        assert g.per_label[0].ci_low < g.per_label[0].auc < g.per_label[0].ci_high
    assert sex.worst_group == "F" and sex.best_group == "M"
    assert sex.gap == pytest.approx(sex["M"].macro - sex["F"].macro)
    assert math.isnan(sex.gap_ci[0])  # no patient ids → no bootstrap CI
    assert [g.group for g in rep["age_band"].groups] == ["<40", "40-60", "60-80", ">=80"]


def test_undefined_group_is_flagged_and_excluded():
    rng = np.random.default_rng(32)
    y, s, meta, pid = cohort(rng)
    meta["site"] = np.where(np.arange(len(meta)) < 3, "tiny", "big")
    y[:3, 0] = 0  # site "tiny": label A has negatives only
    rep = subgroup_auroc(y, s, meta, attributes=["site"], labels=["A", "B"])
    tiny = rep["site"]["tiny"]
    assert not tiny.defined and "A" in tiny.reason and math.isnan(tiny.macro)
    assert math.isnan(tiny.per_label[0].auc) and tiny.per_label[0].reason
    assert rep["site"].worst_group == "big" == rep["site"].best_group and rep["site"].gap == 0
    with pytest.raises(StatsError, match="no column 'race'"):
        subgroup_auroc(y, s, meta, attributes=["race"])


def test_bootstrap_cis_equal_materialised_resamples():
    rng = np.random.default_rng(33)
    y, s, meta, pid = cohort(rng, n_patients=60)
    n_rep = 40
    rep = subgroup_auroc(y, s, meta, attributes=["sex"], patient_ids=pid, n_replicates=n_rep,
                         seed=4)
    codes = np.unique(pid, return_inverse=True)[1]
    counts = np.concatenate(list(patient_count_blocks(codes.max() + 1, n_rep, 4)), axis=1)
    macro = {"F": [], "M": []}
    for r in range(n_rep):
        rows = np.repeat(np.arange(len(pid)), counts[codes, r].astype(int))
        for g in macro:
            m = rows[meta["sex"].to_numpy()[rows] == g]
            macro[g].append(np.mean([sk(y[m, j], s[m, j]) for j in range(2)]))
    for g in macro:
        assert rep["sex"][g].macro_ci == pytest.approx(tuple(np.quantile(macro[g], [0.025, 0.975])))
        assert rep["sex"][g].n_patients == np.unique(pid[meta["sex"] == g]).size
    gap = np.array(macro["M"]) - np.array(macro["F"])
    assert rep["sex"].gap_ci == pytest.approx(tuple(np.quantile(gap, [0.025, 0.975])))
    assert rep.to_dict()["attributes"][0]["groups"][0]["per_label"][0]["auc"] is not None


def test_bad_metadata_length():
    with pytest.raises(StatsError, match="3 values for 4 images"):
        subgroup_auroc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], {"sex": ["F", "M", "F"]})
