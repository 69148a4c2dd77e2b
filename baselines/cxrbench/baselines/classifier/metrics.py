"""Validation metrics for early stopping: masked BCE and macro AUROC (via cxrbench.stats)."""

from __future__ import annotations

import numpy as np


def macro_auroc(targets: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro AUROC over labels with both classes present; NaN (and -1) targets dropped per label.

    Returns (macro, per-label array with NaN where a label cannot be scored). Non-finite scores
    (a diverged model) give NaN, which never counts as an improvement.
    """
    from cxrbench.stats import auroc

    targets = np.asarray(targets, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all():
        return float("nan"), np.full(targets.shape[1], np.nan)
    result = auroc(targets, scores)
    return float(result.macro), result.values


def masked_bce(logits, targets, normaliser: float | None = None):
    """Mean BCE-with-logits over the entries whose target is not NaN (torch tensors); with
    `normaliser`, their sum divided by it (a DDP slice: `Distributed.loss_normaliser`)."""
    import torch
    import torch.nn.functional as F

    mask = ~torch.isnan(targets)
    safe = torch.where(mask, targets, torch.zeros_like(targets))
    loss = F.binary_cross_entropy_with_logits(logits.float(), safe, reduction="none")
    if normaliser is not None:
        return (loss * mask).sum() / normaliser
    return (loss * mask).sum() / mask.sum().clamp_min(1)
