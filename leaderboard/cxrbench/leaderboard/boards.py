"""Boards: the leaderboard shows one eval population of one standing at a time, never two mixed.

A board is `verified` records of one trusted key's held-out sets, or `self-reported` records of
one population (the public dev sets, or one untrusted key's held-out sets). Records of different
boards are never ranked, averaged or drawn together: their numbers are about other test patients,
or were computed by someone the leaderboard cannot vouch for.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from cxrbench.errors import ConfigError
from cxrbench.leaderboard.standing import VERIFIED, judge
from cxrbench.leaderboard.tables import Tables
from cxrbench.leaderboard.trusted_keys import TRUSTED_KEYS_FILE, TrustedKeys, read_trusted

STANDING_COLUMNS = ("standing", "board", "standing_reason")


def board_name(standing: str, population: str, signer_name: str | None) -> str:
    if standing == VERIFIED:
        return f"Verified · held-out sets of {signer_name}"
    if population == "dev":
        return "Self-reported · public dev sets"
    return f"Self-reported · held-out sets of key {population.removeprefix('held-out:')}"


def with_standing(tables: Tables, root: Path) -> Tables:
    """`tables` with each record's standing, board and reason, judged against the store's trusted keys."""
    skipped = list(tables.skipped)
    try:
        trusted = read_trusted(root)
    except ConfigError as exc:  # a broken trust list verifies nothing, and says so
        trusted = TrustedKeys()
        skipped.append((TRUSTED_KEYS_FILE, f"unreadable, so no record is verified: {exc}"))
    records = tables.records.copy()
    judged = [judge(p, k if isinstance(k, str) else None, s if isinstance(s, str) else None, trusted)
              for p, k, s in zip(records["population"], records["signer_key"], records["signer"])]
    records["standing"] = [j.standing for j in judged]
    records["board"] = [board_name(j.standing, j.population, j.signer_name) for j in judged]
    records["standing_reason"] = [j.reason for j in judged]
    return replace(tables, records=records, skipped=skipped)


def boards(records: pd.DataFrame) -> list[str]:
    """The boards that hold records: verified ones first, then self-reported dev, then the rest."""
    if records.empty:
        return []
    names = records[["board", "standing", "population"]].drop_duplicates("board")
    order = names.assign(rank=[(s != VERIFIED, p != "dev", b) for b, s, p in names.itertuples(index=False)])
    return list(order.sort_values("rank")["board"])
