"""AUROC per label and macro, with the study's scoring policy: -1 and NaN rows dropped per label.

The AUROC is the Mann–Whitney statistic computed from midranks, so ties count one half, exactly
as scikit-learn's trapezoidal ROC area does. A label whose scored rows hold one class only has
no AUROC: it is reported as NaN with a reason, never as 0.5, and left out of the macro mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from cxrbench.stats._inputs import as_labels, as_scores, label_names
from cxrbench.stats._ranks import midranks_sorted
from cxrbench.stats._record import Record


@dataclass(frozen=True)
class LabelAuroc(Record):
    """One label's AUROC over its scored rows (labels 0/1 only)."""

    label: str
    auroc: float
    n: int
    n_pos: int
    n_neg: int
    reason: str | None = None  # why `auroc` is NaN, else None

    @property
    def defined(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class AurocResult(Record):
    """AUROC per label and the macro mean over the labels whose AUROC is defined."""

    per_label: tuple[LabelAuroc, ...]
    macro: float
    reason: str | None = None  # why `macro` is NaN (no label defined), else None

    _exported = ("macro_labels",)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(r.label for r in self.per_label)

    @property
    def values(self) -> np.ndarray:
        """AUROC per label as a float array (NaN where undefined)."""
        return np.array([r.auroc for r in self.per_label], dtype=np.float64)

    @property
    def macro_labels(self) -> tuple[str, ...]:
        """The labels the macro mean averages over."""
        return tuple(r.label for r in self.per_label if r.defined)

    def __getitem__(self, label: str) -> float:
        for r in self.per_label:
            if r.label == label:
                return r.auroc
        raise KeyError(label)


def undefined_reason(n_pos: int, n_neg: int) -> str | None:
    """Why a label with these class counts has no AUROC, or None when it has one."""
    if n_pos == 0 and n_neg == 0:
        return "no scored rows (every label is -1 or NaN)"
    if n_pos == 0:
        return f"no positive rows among {n_neg} scored (AUROC needs both classes)"
    if n_neg == 0:
        return f"no negative rows among {n_pos} scored (AUROC needs both classes)"
    return None


def auc_from_ranks(positive: np.ndarray, scores: np.ndarray) -> float:
    """Mann–Whitney AUROC of one label's scored rows (both classes present)."""
    order = np.argsort(scores)
    ranks = midranks_sorted(scores[order])
    pos_sorted = positive[order]
    n_pos = int(pos_sorted.sum())
    n_neg = positive.shape[0] - n_pos
    rank_sum = ranks[pos_sorted].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auroc(y_true: ArrayLike, y_score: ArrayLike, *, labels: Sequence[str] | None = None) -> AurocResult:
    """AUROC per label and macro over the labels present.

    `y_true`: (N,) or (N, L) of 1 / 0 / -1 / NaN; rows with -1 or NaN are dropped per label.
    `y_score`: same shape, finite. `labels`: names of the L columns (default: a DataFrame's
    columns, else `label_i`). Equals scikit-learn's `roc_auc_score` on each label's scored rows.
    Raises StatsError for bad labels, mismatched shapes or non-finite scores.
    """
    y, _ = as_labels(y_true)
    s = as_scores(y_score, y.shape)
    names = label_names(labels, y.shape[1], y_true)
    rows = []
    for j, name in enumerate(names):
        scored = (y[:, j] == 0) | (y[:, j] == 1)
        positive = y[scored, j] == 1
        n_pos = int(positive.sum())
        n_neg = int(positive.shape[0] - n_pos)
        reason = undefined_reason(n_pos, n_neg)
        value = np.nan if reason else auc_from_ranks(positive, s[scored, j])
        rows.append(LabelAuroc(name, value, n_pos + n_neg, n_pos, n_neg, reason))
    defined = [r.auroc for r in rows if r.defined]
    if defined:
        return AurocResult(tuple(rows), float(np.mean(defined)))
    return AurocResult(tuple(rows), float("nan"), "no label has both positive and negative rows")
