"""Input checks shared by every statistic: labels, scores, label names, group ids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from cxrbench.stats.errors import StatsError

#: Label values the scorer accepts; -1 (uncertain) and NaN (not mentioned) are masked per label.
ALLOWED_LABELS = (0.0, 1.0, -1.0)


def as_labels(y_true: ArrayLike, *, name: str = "y_true") -> tuple[np.ndarray, bool]:
    """Return labels as float64 (N, L) and whether the input was 1-D.

    Raises StatsError for a shape other than (N,) or (N, L) or a value outside {0, 1, -1, NaN}.
    """
    try:
        y = np.array(y_true, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"{name}: labels must be numbers 1, 0, -1 or NaN ({exc})") from None
    one_d = y.ndim == 1
    if one_d:
        y = y[:, None]
    if y.ndim != 2:
        raise StatsError(f"{name}: expected shape (N,) or (N, L), got {y.shape}")
    bad = ~(np.isnan(y) | (y == 0) | (y == 1) | (y == -1))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise StatsError(
            f"{name}: value {y[row, col]:g} at row {row}, label {col}; allowed: 1, 0, -1 or NaN"
        )
    return y, one_d


def as_scores(y_score: ArrayLike, shape: tuple[int, int], *, name: str = "y_score") -> np.ndarray:
    """Return scores as float64 with `shape` (the labels' shape); 1-D accepted for one label.

    Raises StatsError for a shape mismatch or a NaN / infinite score (a model must score every image).
    """
    try:
        s = np.array(y_score, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"{name}: scores must be numbers ({exc})") from None
    if s.ndim == 1 and shape[1] == 1:
        s = s[:, None]
    if s.shape != tuple(shape):
        raise StatsError(f"{name}: shape {s.shape} does not match the labels' shape {tuple(shape)}")
    finite = np.isfinite(s)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise StatsError(
            f"{name}: non-finite score {s[row, col]} at row {row}, label {col}; "
            "every image needs a finite score"
        )
    return s


def label_names(labels: Sequence[str] | None, n_labels: int, y_true: ArrayLike | None = None) -> tuple[str, ...]:
    """Names for the label columns: given, else a DataFrame's columns, else `label_0`, `label_1`, ..."""
    if labels is None and y_true is not None and hasattr(y_true, "columns"):
        labels = [str(c) for c in y_true.columns]
    if labels is None:
        return tuple(f"label_{i}" for i in range(n_labels))
    if isinstance(labels, str):
        labels = [labels]
    names = tuple(str(x) for x in labels)
    if len(names) != n_labels:
        raise StatsError(f"labels: {len(names)} name(s) given for {n_labels} label column(s)")
    if len(set(names)) != len(names):
        raise StatsError(f"labels: duplicate label names in {names}")
    return names


def as_groups(ids: ArrayLike, n: int, *, name: str = "patient_ids") -> tuple[np.ndarray, int]:
    """Integer codes 0..G-1 (in sorted id order, so row order never matters) and G.

    Raises StatsError for a length other than `n` or a missing id.
    """
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise StatsError(f"{name}: expected {n} ids (one per image), got shape {arr.shape}")
    missing = pd.isna(arr)
    if missing.any():
        raise StatsError(f"{name}: missing id at row {int(np.argmax(missing))}")
    try:
        codes, uniques = pd.factorize(arr, sort=True)
    except TypeError:  # ids of mixed types: compare them as text
        codes, uniques = pd.factorize(arr.astype(str), sort=True)
    return codes.astype(np.int64), len(uniques)


def check_confidence(confidence: float) -> float:
    if not 0.0 < float(confidence) < 1.0:
        raise StatsError(f"confidence must lie in (0, 1), got {confidence}")
    return float(confidence)
