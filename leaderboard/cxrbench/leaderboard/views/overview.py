"""Overview: per task family, ranks as intervals (ties where differences are not significant)."""

from __future__ import annotations

import streamlit as st

from cxrbench.leaderboard import frames
from cxrbench.leaderboard.ranking import CI_OVERLAP, PAIRED
from cxrbench.leaderboard.views import Context, need, pick, table
from cxrbench.tasking import FAMILIES


def render(ctx: Context) -> None:
    st.header("Overview")
    families = [f for f in FAMILIES if f in set(ctx.tables.records["family"])]
    c1, c2 = st.columns(2)
    with c1:
        family = pick("Task family", families, key="overview-family")
    with c2:
        rank_on = pick("Rank on eval set", ctx.eval_sets, key="overview-rank-on")
    if family is None or rank_on is None:
        st.info("No records under the current filters.")
        return
    df, methods = frames.overview(ctx.tables, ctx.pairwise, family, rank_on)
    base = frames.baseline_levels(ctx.tables, family)
    if len(base):
        levels = ", ".join(f"{r.eval_set} {r.macro_auroc:.4f}" for r in base.itertuples())
        st.markdown(f"**Real-only baseline** ({base['task'].iloc[0]}, not ranked: no generator takes part): "
                    f"macro AUROC {levels}.")
    if not need(df, f"{family} records scored on {rank_on}"):
        return
    st.caption(
        "**rank** is an interval: best rank = 1 + the number of submissions significantly better, worst = "
        "n − the number significantly worse, so submissions whose differences are not significant share ranks. "
        "**delta** is the macro-AUROC change vs the task's real-only baseline (for classifier tasks: the reference "
        "recipe), with its 95% CI (**delta_ci_low** … **delta_ci_high**) and **p** (markers: * p<0.05, ** p<0.01, "
        "*** p<0.001); **verdict** is the record's own (better, worse, no detectable difference, inconclusive). "
        "**group** *more real data* holds generators that saw more real patients than the task's own real rows: "
        "they may help through those patients rather than through synthesis, so they are ranked among themselves. "
        "Under *More columns*: **mde**, the smallest Δ the comparison could detect; **trained_on**, the real data "
        "the generator declares it learned from, against the task's own real rows; the macro AUROC's CI, internal, "
        "external, **gap** = internal − mean external, **within_bounds**.")
    fallback = sorted(t for t, m in methods.items() if m == CI_OVERLAP)
    if fallback:
        st.warning(f"Ranked by {CI_OVERLAP} for {len(fallback)} task(s): {', '.join(fallback)}. "
                   "Overlap is conservative: it shows fewer significant differences than paired tests would.")
    paired = sorted(t for t, m in methods.items() if m == PAIRED)
    if paired:
        st.caption(f"Ranked by {PAIRED} (α = 0.05): {', '.join(paired)}.")
    for task, method in sorted((t, m) for t, m in methods.items() if m not in (PAIRED, CI_OVERLAP)):
        st.caption(f"{task}: ranked by {method}.")
    outside = sorted(set(df.loc[~df["within_bounds"].astype(bool), "entry"]))
    if outside:
        st.warning(f"Declared training data outside the task's rules: {', '.join(outside)} (see its Submission page).")
    with st.expander("More columns"):
        extra = st.multiselect("Also show", frames.OVERVIEW_SECONDARY, default=[], key="overview-columns",
                               label_visibility="collapsed")
    shown = frames.OVERVIEW_PRIMARY + [c for c in frames.OVERVIEW_SECONDARY if c in extra]
    if not df["group"].astype(bool).any():  # no generator ranked apart: a column of blanks only costs width
        shown.remove("group")
    if df["task"].nunique() == 1:  # one task, named by the ranking line above: its column would only cost width
        shown.remove("task")
    table(df[shown], f"overview-{family}-{rank_on.replace(':', '_')}")
