"""Multiple-testing corrections across labels (Holm, Benjamini–Hochberg) and a change summary.

Fourteen labels tested at 0.05 each find a "significant" change by chance about half the time;
the leaderboard therefore reports adjusted p-values. Holm controls the family-wise error rate
(any false claim); Benjamini–Hochberg controls the false discovery rate (share of false claims).
NaN p-values (undefined labels) are kept as NaN and do not count among the m tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from cxrbench.stats._record import Record
from cxrbench.stats.errors import StatsError

METHODS = ("holm", "bh")


def _as_p(p_values: ArrayLike) -> np.ndarray:
    p = np.array(p_values, dtype=np.float64).reshape(-1)
    bad = np.isfinite(p) & ((p < 0) | (p > 1)) | np.isinf(p)
    if bad.any():
        raise StatsError(f"p-value {p[np.argmax(bad)]} at position {int(np.argmax(bad))} is outside [0, 1]")
    return p


def _step(p_values: ArrayLike, adjust_sorted: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """Apply `adjust_sorted(ascending p, m)` to the non-NaN p-values; NaN stays NaN."""
    p = _as_p(p_values)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        out[order] = np.minimum(1.0, adjust_sorted(p[order], ok.size))
    return out


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (same as R's `p.adjust(method = "holm")`)."""
    return _step(p_values, lambda p, m: np.maximum.accumulate((m - np.arange(m)) * p))


def benjamini_hochberg(p_values: ArrayLike) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (R's `p.adjust(method = "BH")`)."""
    return _step(p_values, lambda p, m: np.minimum.accumulate(
        (m / np.arange(1, m + 1) * p)[::-1])[::-1])


def adjust(p_values: ArrayLike, method: str = "holm") -> np.ndarray:
    """Adjusted p-values by `method`: `holm` or `bh` (Benjamini–Hochberg)."""
    if method == "holm":
        return holm(p_values)
    if method in ("bh", "fdr_bh", "benjamini_hochberg"):
        return benjamini_hochberg(p_values)
    raise StatsError(f"unknown multiplicity method {method!r}; known: {', '.join(METHODS)}")


@dataclass(frozen=True)
class LabelChange(Record):
    label: str
    delta: float
    p_value: float
    p_adjusted: float
    significant: bool
    direction: str  # "improved", "worsened", "no significant change" or "undefined"


@dataclass(frozen=True)
class ChangeSummary(Record):
    """Which labels changed significantly after correction for multiple testing."""

    method: str
    alpha: float
    changes: tuple[LabelChange, ...]

    _exported = ("n_tested", "improved", "worsened")

    @property
    def improved(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.changes if c.direction == "improved")

    @property
    def worsened(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.changes if c.direction == "worsened")

    @property
    def n_tested(self) -> int:
        return sum(c.direction != "undefined" for c in self.changes)


def significant_changes(labels: Any, deltas: ArrayLike | None = None, p_values: ArrayLike | None = None, *,
                        method: str = "holm", alpha: float = 0.05) -> ChangeSummary:
    """Adjust per-label p-values and say which labels improved or worsened at level `alpha`.

    Pass label names with `deltas` (Δ = submission − baseline) and `p_values`, or one result that
    has them per label: a `DelongTable` or a `BootstrapResult` (its `per_label`).
    """
    if not 0 < alpha < 1:
        raise StatsError(f"alpha must lie in (0, 1), got {alpha}")
    rows = getattr(labels, "comparisons", None) or getattr(labels, "per_label", None)
    if rows is not None:
        names = [r.label for r in rows]
        deltas = [r.delta for r in rows]
        p_values = [r.p_value for r in rows]
    elif deltas is None or p_values is None:
        raise StatsError("significant_changes: give deltas and p_values with the label names, or one result "
                         "that has them per label (a DelongTable or a BootstrapResult)")
    else:
        names = [str(x) for x in labels] if isinstance(labels, Sequence) else list(labels)
    d = np.array(deltas, dtype=np.float64).reshape(-1)
    p = _as_p(p_values)
    if not len(names) == d.size == p.size:
        raise StatsError(f"{len(names)} labels, {d.size} deltas and {p.size} p-values: lengths differ")
    adjusted = adjust(p, method)
    changes = []
    for name, delta, raw, adj in zip(names, d, p, adjusted):
        if np.isnan(raw) or np.isnan(delta):
            direction, sig = "undefined", False
        else:
            sig = bool(adj <= alpha) and delta != 0
            direction = ("improved" if delta > 0 else "worsened") if sig else "no significant change"
        changes.append(LabelChange(name, float(delta), float(raw), float(adj), sig, direction))
    return ChangeSummary(method, float(alpha), tuple(changes))
