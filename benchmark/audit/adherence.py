"""Condition adherence: does a synthetic image show the findings it was conditioned on?

The reference classifier scores each synthetic image; per finding, the AUROC of its probability
against the condition label (1 = positive; 0 or blank = negative; -1, uncertain, is left out).
On the phantom the rendered ground truth can be given as well, and is scored the same way.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel
from torchmetrics.functional.classification import binary_auroc


class FindingAUROC(BaseModel):
    auroc: float | None
    n_pos: int
    n_neg: int
    undefined_reason: str | None = None


def binary_targets(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(targets, usable mask): 1 → 1, 0 / NaN → 0, -1 → not usable."""
    labels = np.asarray(labels, dtype=np.float32)
    usable = labels != -1
    return (labels == 1).astype(np.int64), usable


def auroc_per_finding(probabilities: np.ndarray, labels: np.ndarray, names: list[str] | tuple[str, ...]
                      ) -> dict[str, FindingAUROC]:
    """AUROC of probabilities (N, L) against raw labels (N, L) per named column."""
    out = {}
    for j, name in enumerate(names):
        target, usable = binary_targets(labels[:, j])
        n_pos = int(target[usable].sum())
        n_neg = int(usable.sum()) - n_pos
        if n_pos == 0 or n_neg == 0:
            out[name] = FindingAUROC(auroc=None, n_pos=n_pos, n_neg=n_neg,
                                     undefined_reason="no positives" if n_pos == 0 else "no negatives")
            continue
        value = binary_auroc(torch.as_tensor(probabilities[usable, j], dtype=torch.float64),
                             torch.as_tensor(target[usable]))
        out[name] = FindingAUROC(auroc=float(value), n_pos=n_pos, n_neg=n_neg)
    return out


def macro(per_finding: dict[str, FindingAUROC]) -> float | None:
    """Mean AUROC over the findings where it is defined."""
    values = [v.auroc for v in per_finding.values() if v.auroc is not None]
    return float(np.mean(values)) if values else None
