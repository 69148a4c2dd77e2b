"""Every result serialises to strict JSON; undefined values become null beside their reason."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import cxrbench.stats as st


def test_all_results_are_strict_json():
    rng = np.random.default_rng(61)
    n = 300
    pid = rng.integers(0, 100, n)
    y = (rng.random((n, 3)) < 0.3).astype(float)
    y[:, 2] = 0.0  # undefined label everywhere
    a, b = rng.random((n, 3)) + 0.3 * y, rng.random((n, 3))
    meta = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "age": rng.uniform(20, 90, n)})
    results = [
        st.auroc(y, a), st.delong(y, a, b), st.delong_ci(y, a)[0],
        st.paired_bootstrap(y, a, b, pid, n_replicates=50),
        st.bootstrap_auroc(y, a, pid, n_replicates=50),
        st.significant_changes(st.delong(y, a, b)),
        st.subgroup_auroc(y, a, meta, patient_ids=pid, n_replicates=50),
        st.aggregate_seeds([0.7]),
        st.seed_mean_delta(y, np.stack([a, a + 0.01 * rng.random(a.shape)]), np.stack([b, b]), pid,
                           labels=("l0", "l1", "l2"), eligible=[True, True, False], paired_seeds=True),
        st.seed_mean(y, np.stack([a]), pid, labels=("l0", "l1", "l2"), eligible=[True, True, False]),
    ]
    for r in results:
        text = json.dumps(r.to_dict(), allow_nan=False)
        assert "\"replicates\"" not in text
    d = st.delong(y, a, b).to_dict()["comparisons"][2]
    assert d["p_value"] is None and "no positive" in d["reason"]
    s = st.significant_changes(st.delong(y, a, b)).to_dict()
    assert s["n_tested"] == 2 and s["changes"][2]["direction"] == "undefined"
    assert st.auroc(y, a).to_dict()["macro_labels"] == ["label_0", "label_1"]


def test_every_exported_function_is_either_product_or_reference():
    """stats/__init__ says which functions the product calls and which are reference implementations."""
    import inspect

    import cxrbench.stats as st

    functions = {name for name in st.__all__ if inspect.isfunction(getattr(st, name))}
    assert set(st.PRODUCT) | set(st.REFERENCE) == functions
    assert not set(st.PRODUCT) & set(st.REFERENCE)
