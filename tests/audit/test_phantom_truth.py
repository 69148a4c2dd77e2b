"""The rendered truth behind uncertain labels, recovered through the public renderer."""

import numpy as np

from cxrbench.audit.phantom_truth import rendered_truth
from cxrbench.data.phantom import render, sample_conditions
from cxrbench.schema import PATHOLOGIES


def test_truth_follows_the_label_rule():
    conditions = sample_conditions(300, "site-a", seed=3)
    seeds = np.arange(300, dtype=np.int64)
    labels = conditions[list(PATHOLOGIES)].to_numpy()
    truth = rendered_truth(conditions, seeds, 32)
    certain = labels != -1
    np.testing.assert_array_equal(truth[certain], (labels[certain] == 1).astype(np.float32))
    uncertain = truth[labels == -1]
    assert uncertain.size > 100
    assert 0.35 < uncertain.mean() < 0.65  # the phantom draws an uncertain finding with probability 1/2
    np.testing.assert_array_equal(rendered_truth(conditions, seeds, 32, images=render(conditions, seeds, 32)), truth)
