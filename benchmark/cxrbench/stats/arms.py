"""Two arms' predictions put side by side by image id and training seed, never by position.

An arm is the per-seed scores of one model (or one training recipe over seeds) on one eval set,
labelled by image id and seed. Before any comparison both arms are re-ordered to the eval set's
rows by id, and seeds are paired by seed number, so a shuffled predictions table gives the same Δ
as an ordered one. Every disagreement is a `StatsError` that names what differs: the first image
id missing or extra, a duplicated id, a shape, a non-finite score (with its image, label and seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrbench.stats.errors import StatsError


@dataclass(frozen=True)
class Arm:
    """Per-seed scores (S, N, L) of one arm, its N image ids and S seeds.

    `fixed`: one fixed model (a frozen classifier), not a training recipe: one set of predictions,
    no training-seed variance.
    """

    scores: np.ndarray
    image_ids: np.ndarray
    seeds: tuple[int, ...]
    fixed: bool = False


def _first_duplicate(ids: np.ndarray) -> tuple[str, int, int] | None:
    dup = pd.Index(ids).duplicated()
    if not dup.any():
        return None
    i = int(np.argmax(dup))
    return str(ids[i]), int(np.flatnonzero(ids == ids[i])[0]), i


def check_ids(ids: np.ndarray, name: str) -> None:
    """StatsError naming the first image id that appears twice."""
    if (found := _first_duplicate(ids)) is not None:
        raise StatsError(f"{name}: image id {found[0]!r} appears twice (rows {found[1]} and {found[2]})")


def align(arm: Arm, image_ids: np.ndarray | Sequence[str], labels: Sequence[str], *, name: str) -> np.ndarray:
    """`arm`'s scores as (S, N, L) in the order of `image_ids` (the eval set's rows); StatsError on any mismatch."""
    ref = np.asarray(image_ids).astype(str)
    scores = np.asarray(arm.scores, dtype=np.float64)
    ids = np.asarray(arm.image_ids).astype(str)
    if scores.ndim != 3 or scores.shape[2] != len(labels):
        raise StatsError(f"{name}: scores of shape {scores.shape}, expected (seeds, images, {len(labels)} labels)")
    if ids.ndim != 1 or ids.shape[0] != scores.shape[1]:
        raise StatsError(f"{name}: image ids of shape {ids.shape} for scores of shape {scores.shape}")
    if len(arm.seeds) != scores.shape[0]:
        raise StatsError(f"{name}: {len(arm.seeds)} seed(s) {list(arm.seeds)} for scores of shape {scores.shape}")
    if len(set(arm.seeds)) != len(arm.seeds):
        raise StatsError(f"{name}: seeds {list(arm.seeds)} repeat a seed")
    check_ids(ref, "eval set")
    check_ids(ids, name)
    same = ids.shape == ref.shape and bool(np.all(ids == ref))
    position = np.arange(ref.shape[0]) if same else pd.Index(ids).get_indexer(ref)
    if (position < 0).any():
        raise StatsError(f"{name}: no prediction for image {str(ref[int(np.argmax(position < 0))])!r} of the eval set "
                         f"({int((position < 0).sum())} missing)")
    if ids.shape[0] != ref.shape[0]:
        extra = ids[~pd.Index(ids).isin(ref)]
        raise StatsError(f"{name}: image {str(extra[0])!r} is not in the eval set ({extra.size} extra)")
    out = scores[:, position, :]
    bad = ~np.isfinite(out)
    if bad.any():
        s, i, j = np.argwhere(bad)[0]
        raise StatsError(f"{name}: non-finite score {out[s, i, j]} for image {str(ref[i])!r}, label {labels[j]!r}, "
                         f"seed {arm.seeds[s]}")
    return out


def pair(arm_a: Arm, arm_b: Arm, stack_a: np.ndarray, stack_b: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(A, B, paired): B's seeds in A's seed order when both arms are recipes trained on the same
    seeds (more than one), else both as given and unpaired."""
    paired = (not arm_a.fixed and not arm_b.fixed and len(arm_a.seeds) > 1
              and sorted(arm_a.seeds) == sorted(arm_b.seeds))
    if not paired:
        return stack_a, stack_b, False
    order = [list(arm_b.seeds).index(s) for s in arm_a.seeds]
    return stack_a, stack_b[order], True
