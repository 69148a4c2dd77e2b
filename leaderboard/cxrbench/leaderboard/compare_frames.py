"""The Compare page's tables: paired Δ of two submissions on one task, as `cxrbench compare` computes it.

The numbers are `cxrbench.compare.compare_records`'s (stored by `cxrbench publish` in the task's
pairwise.json, or computed on request from the stored predictions); nothing here tests anything.
Showing B − A for a pair stored as A − B only negates Δ and swaps its CI bounds.
"""

from __future__ import annotations

import re

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
    for row in rows:  # a verdict without a test carries its reason (never flipped: it is always inconclusive)
        if row.get("verdict_reason"):
            row["verdict"] = f"{row['verdict']}: {row['verdict_reason']}"
    return pd.DataFrame(rows, columns=EVAL_COLUMNS + ["against", "method"])[EVAL_COLUMNS]


_MACRO_COUNT = re.compile(r"macro over the (\d+) labels")


def methods(comparisons) -> list[str]:
    """The distinct method descriptions of the comparisons, shown once under the table: eval sets
    whose methods differ only in how many labels are eligible for the macro share one line that
    names each set's count."""
    counts: dict[str, list[str]] = {}
    for c in comparisons:
        if not c.method:
            continue
        found = _MACRO_COUNT.search(c.method)
        generic = _MACRO_COUNT.sub("macro over the eligible labels", c.method)
        counts.setdefault(generic, [])
        if found:
            counts[generic].append(f"{c.eval_set} {found.group(1)}")
    return [generic.replace("macro over the eligible labels", f"macro over the eligible labels ({', '.join(n)})")
            if n else generic for generic, n in counts.items()]


def label_table(comparisons, flipped: bool = False) -> pd.DataFrame:
    """One row per eval set × label: Δ AUROC (A − B), its p and the Holm-corrected p."""
    rows = [{"eval_set": c.eval_set, **_orient(fields.label_row(d), flipped)} for c in comparisons for d in c.labels]
    return pd.DataFrame(rows, columns=LABEL_COLUMNS)
