"""Cost next to benefit: what a generator's synthetic set bought (primary Δ) for what it cost to make."""

from __future__ import annotations

import streamlit as st

from cxrbench.leaderboard import charts, frames
from cxrbench.leaderboard.views import Context, need, table


def render(ctx: Context) -> None:
    st.header("Utility vs generation cost")
    st.caption("Each point is one record: its primary Δ macro AUROC vs the real-only baseline (with CI) against "
               "how fast the generator made the task's synthetic set (images/s, measured when the set was "
               "generated and kept with it, so a record that reused the set from the cache carries the same "
               "measurement, dated `measured_at`), on the device the measurement names. Device-hours = the task's "
               "synthetic images at that rate / 3600.")
    df = frames.costs(ctx.tables)
    if not need(df, "records with a generate stage"):
        return
    measured = df[df["measured"]]
    if measured.empty:
        st.info(f"None of these {len(df)} records carries a measured generation time: their synthetic sets were "
                "served from cache entries made before cxrbench stored the measurement, so there is no cost to "
                "plot yet (regenerating a set, `cxrbench evaluate --force`, measures it).")
    else:
        st.altair_chart(charts.cost_chart(measured, ctx.palette), width="stretch")
        if len(measured) < len(df):
            st.caption(f"{len(df) - len(measured)} record(s) without a measured generation time are in the table "
                       "only (`measured` = False).")
    table(df, "utility-vs-cost")
