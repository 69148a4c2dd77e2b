"""A tiny learnable image set: label j = a faint blob at a position specific to j, plus noise."""

from __future__ import annotations

import numpy as np

from cxrbench.baselines.classifier import LabeledImages


def toy_set(n: int, seed: int, size: int = 32, label_names=("A", "B", "C", "D"),
            prefix: str = "img", prevalence: float = 0.3, uncertain: float = 0.05,
            unmentioned: float = 0.05) -> LabeledImages:
    rng = np.random.default_rng(seed)
    n_labels = len(label_names)
    truth = rng.random((n, n_labels)) < prevalence
    yy, xx = np.mgrid[0:size, 0:size] / size
    grid = int(np.ceil(np.sqrt(n_labels)))
    img = rng.normal(100, 18, (n, size, size))
    for j in range(n_labels):
        cy, cx = (j // grid + 0.5) / grid, (j % grid + 0.5) / grid
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 0.08**2))
        img += truth[:, j, None, None] * 50 * blob
    images = np.clip(img, 0, 255).astype(np.uint8)
    labels = truth.astype(np.float32)
    draw = rng.random((n, n_labels))
    labels[draw < uncertain] = -1.0
    labels[(draw >= uncertain) & (draw < uncertain + unmentioned)] = np.nan
    ids = np.array([f"{prefix}{i:05d}" for i in range(n)])
    return LabeledImages(images, labels, ids, tuple(label_names), patient_ids=ids)
