"""Cost next to benefit: what a generator's synthetic set bought (primary Δ) for what it cost to make."""

from __future__ import annotations

import streamlit as st

from cxrbench.leaderboard import charts, frames
from cxrbench.leaderboard.views import Context, need, pick, table
from cxrbench.leaderboard.views.details import _task_order


def render(ctx: Context) -> None:
    st.header("Utility vs generation cost")
    st.caption("Each point is one record of the chosen task: its primary Δ macro AUROC vs the real-only baseline "
               "(with CI) against how fast the generator made the task's synthetic set (images/s, measured when "
               "the set was generated and kept with it, so a record that reused the set from the cache carries "
               "the same measurement, dated `measured_at`), on the device the measurement names. Device-hours = "
               "the task's synthetic images at that rate / 3600. Only generation is plotted: a precomputed set's "
               "time is how fast its files were read, not how fast its generator ran.")
    df = frames.costs(ctx.tables)
    if not need(df, "records with a generate stage"):
        return
    task = pick("Task", sorted(df["task"].unique(), key=_task_order), key="cost-task")  # one task: one axis
    df = df[df["task"] == task]
    measured = df[df["measured"]]
    if measured.empty:
        st.info(f"None of the {len(df)} record(s) of {task} carries a generation time measured by generation "
                "(precomputed sets, or sets cached before cxrbench stored the measurement): nothing to plot "
                "(regenerating a set, `cxrbench evaluate --force`, measures it).")
    else:
        st.altair_chart(charts.cost_chart(measured, ctx.palette), width="stretch")
        if len(measured) < len(df):
            st.caption(f"{len(df) - len(measured)} record(s) without a generation time measured by generation are "
                       "in the table only (`measured` = False).")
    table(df, f"utility-vs-cost-{task.replace('/', '_')}", main=COST_MAIN)


#: what the cost page's table shows first (fits 1,400 px); every column under "All columns"
COST_MAIN = ["entry", "delta", "delta_ci_low", "delta_ci_high", "p", "marker", "verdict", "images_per_second",
             "device_hours", "measured"]  # the device: in the chart's legend
