"""How a comparison is written on every surface (CLI table, README/Markdown, leaderboard).

Pure formatting of numbers that the score stage computed once (`cxrbench.runner.score`): no
surface recomputes a p-value or decides a star on its own, so two surfaces never disagree.
"""

from __future__ import annotations

from cxrbench.results import Comparison, EvalSetScore, stars

VERDICT_WORDS = {
    "better": "better",
    "worse": "worse",
    "no_detectable_difference": "no detectable difference",
    "inconclusive": "inconclusive",
}


def num(x: float | None, digits: int = 3, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def p_text(p: float | None) -> str:
    """p with its stars: `0.004**`, `<0.001***`."""
    if p is None:
        return "—"
    return (f"{p:.3f}" if p >= 0.001 else "<0.001") + stars(p)


def delta_ci(c: Comparison, digits: int = 3) -> str:
    """`+0.021 [+0.012, +0.030]`: Δ and the CI of the same construction as its p-value."""
    if c.delta is None:
        return "—"
    return f"{num(c.delta, digits, True)} [{num(c.ci_low, digits, True)}, {num(c.ci_high, digits, True)}]"


def delta_short(c: Comparison, digits: int = 3) -> str:
    """`+0.021**`: Δ with its stars (secondary endpoints in compact tables)."""
    return "—" if c.delta is None else num(c.delta, digits, True) + c.stars


def verdict_label(verdict: str | None, reason: str | None = None, mde: float | None = None) -> str:
    """`better`, `inconclusive (MDE 0.034)`, `inconclusive: too few seeds (1); use ≥ 3, ...`: what a
    reader may conclude, with the record's own reason when there is no test."""
    if not verdict:
        return ""
    word = VERDICT_WORDS.get(verdict, verdict)
    if reason:
        return f"{word}: {reason}"
    return f"{word} (MDE {num(mde)})" if verdict in ("inconclusive", "no_detectable_difference") else word


def verdict_text(c: Comparison) -> str:
    """A comparison's verdict as every surface prints it (`verdict_label`)."""
    return verdict_label(c.verdict, c.verdict_reason, c.mde)


def macro_text(s: EvalSetScore) -> str:
    """`0.781 ±0.004`: seed-mean macro AUROC ± sd over seeds."""
    sd = f" ±{s.seed_sd:.3f}" if s.seed_sd is not None else ""
    return num(s.macro_auroc) + sd


def site_name(eval_set: str) -> str:
    """`external:site-b` → `b`, for compact columns."""
    return eval_set.split(":", 1)[-1].removeprefix("site-")


def primary(comparisons: list[Comparison]) -> Comparison | None:
    return next((c for c in comparisons if c.endpoint == "primary"), None)


def labels_up_down(c: Comparison) -> str:
    if c.labels and all(lab.p_holm is None for lab in c.labels):
        return "—"  # per-label Holm flags withheld (too few seeds; the comparison's method says why)
    up = sum(1 for lab in c.labels if lab.significant and (lab.delta or 0) > 0)
    down = sum(1 for lab in c.labels if lab.significant and (lab.delta or 0) < 0)
    return f"{up}↑ {down}↓"


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3.4 h`: a time for a reader, to the precision an estimate deserves."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def trained_on(record) -> dict:
    """What a record's submission learned from, in words, with its group and ranking group.

    `trained_on`: the declared real patients against the task's own rows (schema 5; for an older
    record its declared keys); `data_group` as the record says (or "no real data" for an older one
    that declared none); `rank_group` is "more real data" where the task ranks those apart
    (`TaskRef.more_real_data`), "" for the main ranking."""
    from cxrbench.training_population import SEPARATE_GROUP

    s = record.submission
    group = s.data_group or ("no real data" if not s.declared_training_data else None)
    if group == "no real data":
        text = "no real data"
    elif s.real_patients is not None:
        own = f" of the task's {s.task_real_patients:,}" if group == "task rows" and s.task_real_patients else ""
        vs = f"; task rows: {s.task_real_patients:,}" if group == SEPARATE_GROUP and s.task_real_patients else ""
        text = f"{s.real_patients:,} patients{own} ({group or 'not compared'}{vs})"
    else:
        text = f"{', '.join(s.declared_training_data)} (patients not declared)"
    separate = group == SEPARATE_GROUP and record.task.more_real_data == "separate"
    return dict(trained_on=text, data_group=group or "", rank_group=SEPARATE_GROUP if separate else "")
