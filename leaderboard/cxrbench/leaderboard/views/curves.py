"""The figure pages: Δ vs real-only, the supplementation curve, synthetic-only vs real, cross-source."""

from __future__ import annotations

import streamlit as st

from cxrbench.leaderboard import charts, frames
from cxrbench.leaderboard.views import Context, need, table

#: why per-arm CIs may overlap where a Δ is significant (shown under every chart of per-arm scores)
PAIRED_NOTE = ("Overlapping CIs of two points do not mean \"no difference\": both arms are scored on the same "
               "test images and training seeds, so their difference is tested paired. The paired Δ (its CI and p, "
               "on the Δ vs real-only page) decides significance, not the overlap of these per-arm CIs.")


def render_deltas(ctx: Context) -> None:
    st.header("Δ vs real-only")
    st.caption("Macro-AUROC change of each submission against its task's real-only baseline (same recipe and "
               "seeds), with 95% CIs. Filled points: p < 0.05. Each panel (task family × eval set) has its own "
               "y scale; panels without comparisons are left out.")
    df = frames.deltas(ctx.tables)
    if not need(df, "comparisons against a real-only baseline"):
        return
    st.altair_chart(charts.delta_chart(df, ctx.palette), width="content")
    table(df, "delta-vs-real-only", main=DELTA_MAIN)


#: what the Δ page's table shows first (fits 1,400 px); the rest under "All columns"
DELTA_MAIN = ["task", "entry", "eval_set", "delta", "delta_ci_low", "delta_ci_high", "p", "marker", "verdict"]


def _curve_page(ctx: Context, family: str, title: str, caption: str, table_of) -> None:
    """A family's macro AUROC vs N% per submission and eval set, the real-only level dashed, a table."""
    st.header(title)
    st.caption(caption)
    pts = frames.curve(ctx.tables, family)
    if not need(pts, f"{family} records"):
        return
    ref = frames.real_only_reference(ctx.tables, set(pts.loc[pts["ratio"] == 0, "task"]))
    st.altair_chart(charts.curve_chart(pts, ref.groupby("eval_set", as_index=False)["macro_auroc"].mean(),
                                       domain=ctx.palette), width="content")
    st.caption(PAIRED_NOTE)
    df = table_of(pts)
    table(df, title.lower().replace(" ", "-"))


def render_curve(ctx: Context) -> None:
    _curve_page(ctx, "supplement", "Supplementation curve",
                "Macro AUROC vs N% synthetic supplementation (real + N/100 synthetic images per real training "
                "row), per generator, on the internal and external test sets, with CIs. N = 0 is the real-only "
                "baseline (dashed line).", lambda pts: pts)


def render_synthetic(ctx: Context) -> None:
    st.header("Synthetic-only vs real")
    st.caption("Classifiers trained on synthetic images only (N/100 per real training row's conditions) against "
               "the same recipe on the real images (dashed line). The study found synthetic-only at 200–300% "
               "close to real.")
    df = frames.synthetic_vs_real(ctx.tables)
    if not need(df, "synthetic-only records"):
        return
    pts = df.rename(columns={"synthetic_only": "macro_auroc"})[["entry", "ratio", "eval_set", "macro_auroc",
                                                                "ci_low", "ci_high"]]
    ref = df.groupby("eval_set", as_index=False)["real_only"].mean().rename(columns={"real_only": "macro_auroc"})
    st.altair_chart(charts.curve_chart(pts, ref, domain=ctx.palette), width="content")
    st.caption(PAIRED_NOTE)
    table(df, "synthetic-only-vs-real", main=SYNTHETIC_MAIN)


SYNTHETIC_MAIN = ["entry", "ratio", "eval_set", "synthetic_only", "real_only", "delta", "delta_ci_low",
                  "delta_ci_high", "p", "verdict"]


def render_cross_source(ctx: Context) -> None:
    _curve_page(ctx, "cross_source", "Cross-source",
                "Real images of one site plus synthetic images from a generator conditioned on another site's "
                "training rows. N = 0: that site's real images alone (dashed line). Internal = the real site's "
                "test split.", lambda pts: frames.deltas(ctx.tables, "cross_source")[DELTA_MAIN])
