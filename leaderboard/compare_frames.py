"""The Compare page's tables: paired Δ of two submissions on one task, as `cxrbench compare` computes it.

The numbers are `cxrbench.compare.compare_records`'s (stored by `cxrbench publish` in the task's
pairwise.json, or computed on request from the stored predictions); nothing here tests anything.
Showing B − A for a pair stored as A − B only negates Δ and swaps its CI bounds.
"""

from __future__ import annotations

import pandas as pd

from cxrbench.leaderboard import fields

FLIP_VERDICT = {"better": "worse", "worse": "better"}
EVAL_COLUMNS = ["eval_set", "endpoint", "delta", "ci_low", "ci_high", "mde", "p_value", "stars", "verdict"]
LABEL_COLUMNS = ["eval_set", "label", "delta", "ci_low", "ci_high", "p_value", "p_holm", "significant"]


def stored_pair(pairwise: dict, a: str, b: str, sha: dict[str, str]) -> tuple[list, bool] | None:
    """(comparisons, flipped) of the stored pair {a, b} when both hashes are still current, else None.

    `flipped`: the pair is stored as b − a."""
    for pair in pairwise.get("pairs", []):
        for first, second, flipped in ((a, b, False), (b, a, True)):
            if (pair["a"], pair["b"]) == (first, second):
                fresh = sha.get(first) == pair["a_sha256"] and sha.get(second) == pair["b_sha256"]
                return (pair["comparisons"], flipped) if fresh else None
    return None


def _orient(row: dict, flipped: bool) -> dict:
    if not flipped:
        return row
    out = dict(row)
    for key in ("delta", "ci_low", "ci_high"):
        if out.get(key) is not None:
            out[key] = -out[key]
    out["ci_low"], out["ci_high"] = out["ci_high"], out["ci_low"]
    if "verdict" in out:
        out["verdict"] = FLIP_VERDICT.get(out["verdict"], out["verdict"])
    return out


def eval_set_table(comparisons, flipped: bool = False) -> pd.DataFrame:
    """One row per eval set: Δ (A − B) with CI, MDE, p, stars and verdict."""
    rows = [_orient(fields.row(c), flipped) for c in comparisons]
    return pd.DataFrame(rows, columns=EVAL_COLUMNS + ["against", "method"])[EVAL_COLUMNS]


def methods(comparisons) -> list[str]:
    """The distinct method descriptions of the comparisons (shown once, under the table)."""
    return list(dict.fromkeys(c.method for c in comparisons if c.method))


def label_table(comparisons, flipped: bool = False) -> pd.DataFrame:
    """One row per eval set × label: Δ AUROC (A − B), DeLong p and Holm-corrected p."""
    rows = [{"eval_set": c.eval_set, **_orient(fields.label_row(d), flipped)} for c in comparisons for d in c.labels]
    return pd.DataFrame(rows, columns=LABEL_COLUMNS)
