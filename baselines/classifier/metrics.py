"""Validation metrics for early stopping: masked BCE and per-label / macro AUROC."""

from __future__ import annotations

import numpy as np


def macro_auroc(targets: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro AUROC over labels with both classes present; NaN targets are left out per label.

    Returns (macro, per-label array with NaN for labels that cannot be scored). Targets are
    binarised at 0.5 (smoothed or soft targets count as their nearest class).
    """
    from sklearn.metrics import roc_auc_score

    per_label = np.full(targets.shape[1], np.nan)
    for j in range(targets.shape[1]):
        keep = ~np.isnan(targets[:, j])
        y = targets[keep, j] >= 0.5
        if y.any() and not y.all():
            per_label[j] = roc_auc_score(y, scores[keep, j])
    scored = per_label[~np.isnan(per_label)]
    return (float(scored.mean()) if scored.size else float("nan")), per_label


def masked_bce(logits, targets):
    """Mean BCE-with-logits over the entries whose target is not NaN (torch tensors)."""
    import torch
    import torch.nn.functional as F

    mask = ~torch.isnan(targets)
    safe = torch.where(mask, targets, torch.zeros_like(targets))
    loss = F.binary_cross_entropy_with_logits(logits.float(), safe, reduction="none")
    return (loss * mask).sum() / mask.sum().clamp_min(1)
