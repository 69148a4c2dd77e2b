"""What the phantom actually drew: the rendered truth behind uncertain (-1) condition labels.

The phantom draws a finding labelled 1, never one labelled 0 or blank, and one labelled -1 with
probability 1/2 (at half severity), from the image's own random stream. Because each finding
has its own draws, whether an uncertain finding was drawn shows as a pixel difference: the
image changes when that one label is set to 0. That is all this module uses (`render` is public
API), so it stays right if the renderer's internals change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrbench.schema import PATHOLOGIES


def rendered_truth(conditions: pd.DataFrame, seeds: np.ndarray, size: int, *,
                   anatomy_seeds: np.ndarray | None = None, images: np.ndarray | None = None) -> np.ndarray:
    """float32 (N, 14) of 1 (drawn) / 0 (not drawn) for images rendered from these rows and seeds.

    `images`: the renders, if already at hand (else they are rendered here).
    """
    from cxrbench.data.phantom import render

    conditions = conditions.reset_index(drop=True)
    seeds = np.asarray(seeds, dtype=np.int64)
    if images is None:
        images = render(conditions, seeds, size, anatomy_seeds=anatomy_seeds)
    labels = conditions[list(PATHOLOGIES)].to_numpy(dtype=np.float32)
    truth = (labels == 1).astype(np.float32)
    rows, cols = np.nonzero(labels == -1)
    if rows.size:
        toggled = conditions.iloc[rows].reset_index(drop=True).copy()
        for k, j in enumerate(cols):
            toggled.iat[k, toggled.columns.get_loc(PATHOLOGIES[j])] = 0.0
        anat = None if anatomy_seeds is None else np.asarray(anatomy_seeds, dtype=np.int64)[rows]
        without = render(toggled, seeds[rows], size, anatomy_seeds=anat)
        truth[rows, cols] = (without != images[rows]).any(axis=(1, 2)).astype(np.float32)
    return truth
