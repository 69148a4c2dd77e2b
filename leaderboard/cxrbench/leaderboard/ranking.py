"""Ranks as intervals: no strict order where differences are not significant.

A submission's best possible rank is 1 + the number of submissions significantly better than it;
its worst is n − the number significantly worse. "Significantly" comes from the stored paired
tests (Holm-corrected within one task × eval set) or, for a pair whose test is not stored, from
non-overlapping bootstrap CIs (a cruder, conservative rule the pages label as such, counting the
pairs it decided).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from cxrbench.stats.multiplicity import holm
from cxrbench.stats.power import ALPHA

PAIRED = "paired tests, Holm-corrected"
CI_OVERLAP = "bootstrap-CI overlap (no paired tests stored)"


def partly_paired(missing: int, pairs: int) -> str:
    """The method of a task whose paired tests cover some of its pairs: exactly how many fell back."""
    return (f"{PAIRED}; {missing} of {pairs} pair(s) by bootstrap-CI overlap (no current paired test stored for "
            f"them)")


def rank_intervals(entries: Iterable[str], better: set[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """(best, worst) rank per entry, given the set of (winner, loser) pairs that are significant."""
    entries = list(entries)
    n = len(entries)
    out = {}
    for e in entries:
        beaten_by = sum(1 for winner, loser in better if loser == e and winner in entries)
        beats = sum(1 for winner, loser in better if winner == e and loser in entries)
        out[e] = (1 + beaten_by, n - beats)
    return out


def format_interval(best: int, worst: int) -> str:
    return str(best) if best == worst else f"{best}–{worst}"


def wins_from_ci(scores: pd.DataFrame) -> set[tuple[str, str]]:
    """(winner, loser) where the winner's CI lies entirely above the loser's. Columns: entry, ci_low, ci_high."""
    rows = scores.dropna(subset=["ci_low", "ci_high"]).to_dict("records")
    return {(a["entry"], b["entry"]) for a in rows for b in rows
            if a["entry"] != b["entry"] and a["ci_low"] > b["ci_high"]}


def wins_from_pairwise(pairs: pd.DataFrame, alpha: float = ALPHA) -> set[tuple[str, str]]:
    """(winner, loser) from paired tests of one task × eval set. Columns: a, b, delta (a − b), p_value."""
    if pairs.empty:
        return set()
    adjusted = holm(pairs["p_value"].to_numpy(dtype=float))
    out = set()
    for (a, b, delta), p in zip(pairs[["a", "b", "delta"]].itertuples(index=False), adjusted):
        if np.isnan(p) or p >= alpha or delta is None or np.isnan(delta) or delta == 0:
            continue
        out.add((a, b) if delta > 0 else (b, a))
    return out


def rank_table(scores: pd.DataFrame, pairs: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """Add `rank` (interval text), `rank_best`, `rank_worst` to one task × eval set's scores.

    `scores`: entry, macro_auroc, ci_low, ci_high. `pairs`: the stored paired tests for this task ×
    eval set (a, b, delta, p_value). Each pair of entries shown is decided by its paired test
    (Holm-corrected over the stored pairs) where one is stored, by CI overlap where none is: a new
    entry whose pairs are not all computed never changes how the others are ranked against each other.
    Returns the table sorted by best rank then score, and the method used (`PAIRED`, `CI_OVERLAP`, or
    `partly_paired`, which counts the pairs that fell back).
    """
    entries = list(scores["entry"])
    needed = {frozenset((a, b)) for i, a in enumerate(entries) for b in entries[i + 1:]}
    inside = (pairs[pairs["a"].isin(entries) & pairs["b"].isin(entries) & (pairs["a"] != pairs["b"])]
              if pairs is not None and not pairs.empty else pd.DataFrame(columns=["a", "b", "delta", "p_value"]))
    covered = {frozenset(p) for p in inside[["a", "b"]].itertuples(index=False)} & needed
    wins = wins_from_pairwise(inside) if covered else set()
    missing = needed - covered
    if missing:
        wins |= {(winner, loser) for winner, loser in wins_from_ci(scores) if frozenset((winner, loser)) in missing}
    method = PAIRED if not missing else CI_OVERLAP if not covered else partly_paired(len(missing), len(needed))
    ranks = rank_intervals(entries, wins)
    out = scores.copy()
    out["rank_best"] = [ranks[e][0] for e in entries]
    out["rank_worst"] = [ranks[e][1] for e in entries]
    out["rank"] = [format_interval(*ranks[e]) for e in entries]
    out = out.sort_values(["rank_best", "macro_auroc"], ascending=[True, False], kind="stable")
    return out.reset_index(drop=True), method
