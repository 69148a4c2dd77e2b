"""Condition adherence: does a synthetic image show the findings it was conditioned on?

The reference classifier scores each synthetic image; per finding, the AUROC of its probability
against the condition label (1 = positive; 0 or blank = negative, as the phantom renders them and
as CheXpert training treats them; -1, uncertain, is left out). On the phantom the rendered ground
truth can be given as well and is scored the same way. AUROC itself is `cxrbench.stats.auroc`.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from cxrbench.stats import auroc


class FindingAUROC(BaseModel):
    auroc: float | None
    n_pos: int
    n_neg: int
    undefined_reason: str | None = None


def adherence_targets(labels: np.ndarray) -> np.ndarray:
    """Raw labels → AUROC targets: 1 stays 1, 0 and NaN become 0, -1 stays -1 (left out)."""
    labels = np.asarray(labels, dtype=np.float64)
    return np.where(np.isnan(labels), 0.0, labels)


def auroc_per_finding(probabilities: np.ndarray, labels: np.ndarray, names: list[str] | tuple[str, ...]
                      ) -> dict[str, FindingAUROC]:
    """AUROC of probabilities (N, L) against raw labels (N, L) per named column."""
    result = auroc(adherence_targets(labels), np.asarray(probabilities, dtype=np.float64), labels=list(names))
    return {r.label: FindingAUROC(auroc=None if r.reason else r.auroc, n_pos=r.n_pos, n_neg=r.n_neg,
                                  undefined_reason=r.reason) for r in result.per_label}


def macro(per_finding: dict[str, FindingAUROC]) -> float | None:
    """Mean AUROC over the findings where it is defined."""
    values = [v.auroc for v in per_finding.values() if v.auroc is not None]
    return float(np.mean(values)) if values else None
