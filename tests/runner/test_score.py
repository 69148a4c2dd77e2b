"""The score stage against independent references (scikit-learn) on rows with the real schema."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cxrbench.runner.datasets import RealSet
from cxrbench.runner.score import score_task
from cxrbench.schema import PATHOLOGIES
from cxrbench.tasking import DataRef

LABELS = ("Cardiomegaly", "Edema", "Pleural Effusion")


@pytest.fixture(scope="module")
def eval_set():
    rng = np.random.default_rng(0)
    n = 600
    rows = pd.DataFrame({
        "image_id": [f"i{i:04d}" for i in range(n)], "patient_id": [f"p{i // 2:04d}" for i in range(n)],
        "sex": rng.choice(["F", "M"], n), "age": rng.uniform(20, 90, n), "race": rng.choice(["White", "Black", "Asian"], n),
        "view": rng.choice(["PA", "AP"], n),
    })
    for p in PATHOLOGIES:
        rows[p] = rng.choice([1.0, 0.0, -1.0, np.nan], n, p=[0.3, 0.5, 0.1, 0.1])
    return RealSet(ref=DataRef(source="phantom", site="site-a", split="test"), rows=rows,
                   pixels=np.zeros((n, 8, 8), np.uint8), fingerprint="x")


def informative(y, strength, rng):
    signal = np.nan_to_num(np.where(y == 1, 1.0, 0.0))
    return 1 / (1 + np.exp(-(strength * signal + rng.normal(0, 1, y.shape))))


def test_scores_match_sklearn_and_detect_a_real_improvement(eval_set):
    rng = np.random.default_rng(1)
    y = eval_set.labels(LABELS)
    good = {s: {"internal_test": informative(y, 2.0, rng)} for s in range(3)}
    weak = {s: {"internal_test": informative(y, 0.5, rng)} for s in range(3)}
    out = score_task(eval_sets={"internal_test": eval_set}, labels=LABELS, preds=good, base_preds=weak,
                     against="baseline", n_boot=300)
    es = out.eval_sets[0]
    mean = np.mean([good[s]["internal_test"] for s in range(3)], axis=0)
    want = []
    for j, lab in enumerate(LABELS):
        keep = np.isin(y[:, j], (0, 1))
        ref = roc_auc_score(y[keep, j], mean[keep, j])
        want.append(ref)
        assert es.labels[j].auroc == pytest.approx(ref, abs=1e-9)
        assert es.labels[j].ci_low < ref < es.labels[j].ci_high
    assert es.macro_auroc == pytest.approx(np.mean(want), abs=1e-9)
    assert es.macro_ci_low < es.macro_auroc < es.macro_ci_high
    assert len(es.per_seed_macro_auroc) == 3 and es.seed_sd > 0
    comp = out.comparisons[0]
    assert comp.delta_macro_auroc > 0.1 and comp.bootstrap_ci_low > 0
    assert comp.bootstrap_p_value < 0.01 and comp.seed_aware_p_value < 0.05
    assert set(comp.significant_labels) == set(LABELS)
    assert {s.attribute for s in out.subgroups} == {"sex", "age_band", "race", "view"}


def test_no_difference_is_not_significant(eval_set):
    rng = np.random.default_rng(2)
    y = eval_set.labels(LABELS)
    a = {s: {"internal_test": informative(y, 1.0, rng)} for s in range(3)}
    b = {s: {"internal_test": informative(y, 1.0, rng)} for s in range(3)}
    comp = score_task(eval_sets={"internal_test": eval_set}, labels=LABELS, preds=a, base_preds=b,
                      against="baseline", n_boot=300).comparisons[0]
    assert comp.bootstrap_ci_low < 0 < comp.bootstrap_ci_high
    assert comp.bootstrap_p_value > 0.05 and not comp.significant_labels


def test_single_class_label_is_undefined_not_half(eval_set):
    rows = eval_set.rows.copy()
    rows["Edema"] = 0.0
    es = RealSet(eval_set.ref, rows, eval_set.pixels, "y")
    preds = {0: {"internal_test": np.random.default_rng(3).random((len(rows), 3))}}
    out = score_task(eval_sets={"internal_test": es}, labels=LABELS, preds=preds, base_preds={}, against=None, n_boot=200)
    edema = out.eval_sets[0].labels[1]
    assert edema.auroc is None and "positive" in edema.undefined_reason
    assert out.comparisons == []
