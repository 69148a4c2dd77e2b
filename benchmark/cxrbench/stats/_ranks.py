"""Midranks: the one rank kernel behind AUROC, DeLong and the bootstrap (ties share their mean rank)."""

from __future__ import annotations

import numpy as np


def midranks_sorted(values: np.ndarray) -> np.ndarray:
    """1-based midranks of an ascending-sorted 1-D array (tied values get the mean of their ranks)."""
    n = values.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.float64)
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(values[1:], values[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    if starts.shape[0] == n:
        return np.arange(1.0, n + 1.0)
    counts = np.diff(np.append(starts, n))
    return np.repeat(starts + (counts + 1) / 2.0, counts)

