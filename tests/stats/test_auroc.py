"""AUROC against scikit-learn (1e-9, ties included) and torchmetrics (1e-6); masks; bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from cxrbench.errors import CxrbenchError
from cxrbench.stats import StatsError, auroc


def make_labels(rng, n, n_labels, prevalence=0.3, uncertain=0.1, missing=0.15):
    y = (rng.random((n, n_labels)) < prevalence).astype(float)
    y[rng.random((n, n_labels)) < uncertain] = -1
    y[rng.random((n, n_labels)) < missing] = np.nan
    return y


def sklearn_per_label(y, s):
    out = []
    for j in range(y.shape[1]):
        keep = (y[:, j] == 0) | (y[:, j] == 1)
        out.append(roc_auc_score(y[keep, j], s[keep, j]))
    return np.array(out)


@pytest.mark.parametrize("decimals", [None, 1, 2])
def test_matches_sklearn_with_masks_and_ties(decimals):
    rng = np.random.default_rng(3)
    y = make_labels(rng, 4000, 6)
    s = rng.normal(size=y.shape) + 0.8 * np.nan_to_num(y).clip(0)
    if decimals is not None:  # heavy ties, including ties across classes
        s = np.round(s, decimals)
    result = auroc(y, s)
    ref = sklearn_per_label(y, s)
    np.testing.assert_allclose(result.values, ref, rtol=0, atol=1e-9)
    assert result.macro == pytest.approx(ref.mean(), abs=1e-9)
    for j, row in enumerate(result.per_label):
        keep = (y[:, j] == 0) | (y[:, j] == 1)
        assert row.n == keep.sum() and row.n_pos == (y[:, j] == 1).sum()
        assert row.n_neg == (y[:, j] == 0).sum() and row.reason is None


def test_matches_torchmetrics():
    torch = pytest.importorskip("torch")
    binary_auroc = pytest.importorskip("torchmetrics.functional.classification").binary_auroc
    rng = np.random.default_rng(4)
    y = make_labels(rng, 3000, 4)
    # probabilities in [0, 1], as torchmetrics expects (outside it applies its own sigmoid)
    s = (rng.random(y.shape) + 0.3 * np.nan_to_num(y).clip(0)) / 1.3
    s[:, 1] = np.round(s[:, 1], 1)
    result = auroc(y, s)
    for j in range(y.shape[1]):
        keep = (y[:, j] == 0) | (y[:, j] == 1)
        ref = binary_auroc(torch.tensor(s[keep, j]), torch.tensor(y[keep, j]).long()).item()
        assert result.values[j] == pytest.approx(ref, abs=1e-6)


def test_one_class_label_is_undefined_not_half_and_left_out_of_macro():
    y = np.array([[1, 1, np.nan], [0, 1, -1], [1, 1, np.nan], [0, -1, -1]], dtype=float)
    s = np.array([[0.9, 0.2, 0.1], [0.1, 0.3, 0.5], [0.8, 0.4, 0.2], [0.3, 0.5, 0.3]])
    result = auroc(y, s, labels=["A", "B", "C"])
    assert result["A"] == 1.0
    assert math.isnan(result["B"]) and "no negative" in result.per_label[1].reason
    assert math.isnan(result["C"]) and "no scored rows" in result.per_label[2].reason
    assert result.macro == 1.0 and result.macro_labels == ("A",)
    d = result.to_dict()
    assert d["per_label"][1]["auroc"] is None and d["per_label"][1]["reason"]


def test_no_label_defined_gives_nan_macro_with_reason():
    result = auroc(np.zeros(5), np.arange(5.0))
    assert math.isnan(result.macro) and result.reason
    assert "no positive" in result.per_label[0].reason


def test_names_from_dataframe_and_1d_input():
    y = pd.DataFrame({"Edema": [0, 1, 1, 0], "Fracture": [1, 0, 1, 0]})
    result = auroc(y, np.array([[0.1, 0.9], [0.8, 0.2], [0.7, 0.6], [0.3, 0.1]]))
    assert result.labels == ("Edema", "Fracture")
    assert result["Edema"] == 1.0 and result["Fracture"] == 1.0
    single = auroc([0, 1, 0, 1], [0.2, 0.4, 0.6, 0.8])
    assert single.values[0] == pytest.approx(roc_auc_score([0, 1, 0, 1], [0.2, 0.4, 0.6, 0.8]))


@pytest.mark.parametrize(
    "y, s, match",
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "allowed: 1, 0, -1 or NaN"),
        ([0, 1, 0.5], [0.1, 0.2, 0.3], "value 0.5 at row 2"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "non-finite score nan at row 1"),
        ([0, 1, 1], [0.1, np.inf, 0.3], "non-finite score inf"),
        ([0, 1, 1], [0.1, 0.2], "does not match"),
        (["a", "b"], [0.1, 0.2], "labels must be numbers"),
    ],
)
def test_bad_input_raises_clear_stats_error(y, s, match):
    with pytest.raises(StatsError, match=match) as info:
        auroc(y, s)
    assert isinstance(info.value, CxrbenchError)


def test_wrong_number_of_label_names():
    with pytest.raises(StatsError, match="2 name"):
        auroc(np.zeros((3, 3)), np.zeros((3, 3)), labels=["a", "b"])


label_score_pairs = st.integers(min_value=2, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from([0.0, 1.0, -1.0, float("nan")]), min_size=n, max_size=n),
        st.lists(st.integers(min_value=-5, max_value=5), min_size=n, max_size=n),
    )
)


@settings(max_examples=150, deadline=None)
@given(label_score_pairs)
def test_property_sklearn_agreement_monotone_invariance_and_flip(pair):
    y = np.array(pair[0])
    s = np.array(pair[1], dtype=float)
    keep = (y == 0) | (y == 1)
    result = auroc(y, s)
    if len(set(y[keep])) < 2:
        assert math.isnan(result.values[0]) and result.per_label[0].reason
        return
    value = result.values[0]
    assert value == pytest.approx(roc_auc_score(y[keep], s[keep]), abs=1e-12)
    # strictly increasing transforms keep the ranking, hence the AUROC, ties included
    assert auroc(y, np.exp(s / 3.0) * 7 - 2).values[0] == pytest.approx(value, abs=1e-12)
    # reversing the scores mirrors the AUROC
    assert auroc(y, -s).values[0] == pytest.approx(1 - value, abs=1e-12)
