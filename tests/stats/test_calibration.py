"""Do the tests hold their level? Null simulations for DeLong, the bootstrap and seed comparison."""

from __future__ import annotations

import numpy as np
import pytest

from cxrbench.stats import delong, delong_ci, paired_bootstrap


def exchangeable_pair(rng, n_patients, per_patient=2, prevalence=0.3):
    """Two different models with the same true AUROC, correlated through the patient."""
    pid = np.repeat(np.arange(n_patients), per_patient)
    y = (rng.random(pid.size) < prevalence).astype(float)
    patient = rng.normal(size=n_patients)[pid]
    common = rng.normal(size=pid.size)
    a = y + patient + common + rng.normal(size=pid.size)
    b = y + patient + common + rng.normal(size=pid.size)
    return y, a, b, pid


def test_delong_type_one_error_and_coverage():
    rng = np.random.default_rng(51)
    n_sim = 400
    rejections, covered = 0, 0
    true_auc = None
    for _ in range(n_sim):
        y, a, b, _ = exchangeable_pair(rng, 150, per_patient=1)
        rejections += delong(y, a, b).p_value < 0.05
        ci = delong_ci(y, a)
        if true_auc is None:  # Monte-Carlo AUROC of model a on a huge sample
            yy, aa, _, _ = exchangeable_pair(np.random.default_rng(0), 100_000, per_patient=1)
            true_auc = delong_ci(yy, aa).auc
        covered += ci.ci_low <= true_auc <= ci.ci_high
    # binomial sd at 0.05 with 400 runs ≈ 0.011
    assert 0.02 <= rejections / n_sim <= 0.085
    assert 0.91 <= covered / n_sim <= 0.98


@pytest.mark.slow
def test_clustered_bootstrap_type_one_error():
    rng = np.random.default_rng(52)
    n_sim = 200
    p = np.array([paired_bootstrap(*exchangeable_pair(rng, 120, per_patient=3),
                                   n_replicates=400, seed=i).p_value for i in range(n_sim)])
    assert 0.015 <= np.mean(p < 0.05) <= 0.10
