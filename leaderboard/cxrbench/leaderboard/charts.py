"""Altair charts (rendered by Streamlit's bundled Vega-Lite; no network assets)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import altair as alt
import pandas as pd

AUROC = alt.Scale(zero=False)
#: Okabe & Ito's colour-blind-safe palette (yellow left out: faint on white)
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000"]
#: the colours an entry may get: Okabe & Ito's, then Paul Tol's muted scheme (also colour-blind safe)
PALETTE = OKABE_ITO + ["#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
                       "#AA4499"]
WHISKER: dict[str, Any] = dict(strokeWidth=1.2, opacity=0.85)  # CIs as thin lines, no caps


def entry_colour(entry: str) -> str:
    """An entry's colour, from a hash of its name@version: the same on every page, in every store, and
    unchanged by any record published after it (a position in a sorted list would shift)."""
    return PALETTE[int(hashlib.sha256(entry.encode()).hexdigest()[:8], 16) % len(PALETTE)]


def entry_color(domain: list[str], title: str = "submission") -> alt.Color:
    """One colour per submission on every page, `entry_colour` of each entry of `domain`."""
    return alt.Color("entry:N", title=title, scale=alt.Scale(domain=list(domain),
                                                             range=[entry_colour(e) for e in domain]))


def _ratio_axis(df: pd.DataFrame) -> alt.X:
    order = [str(r) for r in sorted(df["ratio"].unique())]
    return alt.X("ratio_label:O", sort=order, title="N% synthetic", axis=alt.Axis(labelAngle=0))


def curve_chart(points: pd.DataFrame, reference: pd.DataFrame | None = None,
                dash: str | None = None, domain: list[str] | None = None) -> alt.FacetChart:
    """Macro AUROC vs N% per entry, one panel per eval set, CIs as error bars.

    `reference` (eval_set, macro_auroc): the real-only level per eval set, drawn as a dashed rule.
    `dash`: a column to distinguish series by line style (e.g. family).
    """
    df = points.assign(ratio_label=points["ratio"].astype(str))
    if reference is not None and not reference.empty:
        df = df.merge(reference[["eval_set", "macro_auroc"]].rename(columns={"macro_auroc": "real_only"}),
                      on="eval_set", how="left")
    base = alt.Chart().encode(x=_ratio_axis(df), color=entry_color(domain or sorted(df["entry"].unique())))
    enc = dict(y=alt.Y("macro_auroc:Q", scale=AUROC, title="macro AUROC"),
               tooltip=["entry", "ratio", "eval_set", alt.Tooltip("macro_auroc:Q", format=".4f"),
                        alt.Tooltip("ci_low:Q", format=".4f"), alt.Tooltip("ci_high:Q", format=".4f")])
    if dash:
        enc["strokeDash"] = alt.StrokeDash(f"{dash}:N")
    layers = [base.mark_line(point=True).encode(**enc),
              base.mark_rule(**WHISKER).encode(y=alt.Y("ci_low:Q", scale=AUROC, title="macro AUROC"),
                                               y2="ci_high:Q")]
    if "real_only" in df.columns:
        layers.append(alt.Chart().mark_rule(strokeDash=[5, 4], color="gray").encode(y="mean(real_only):Q"))
    return alt.layer(*layers, data=df).properties(width=230, height=260).facet(
        column=alt.Column("eval_set:N", title=None, sort=eval_set_sort(df)))


def eval_set_sort(df: pd.DataFrame) -> list[str]:
    """Panel order: internal_test first, then the external sets."""
    from cxrbench.leaderboard.frames import eval_set_order

    return eval_set_order(df["eval_set"].unique())


def delta_chart(deltas: pd.DataFrame, domain: list[str] | None = None) -> alt.FacetChart:
    """Δ macro AUROC vs real-only with CIs; significant points filled. One panel per task family × eval
    set that has comparisons (no empty panels), each with its own y scale (+0.008 and +0.032 must not
    look alike because another panel spans −0.3 … +0.2); the legend below the panels."""
    from cxrbench.leaderboard.frames import family_rank

    df = deltas.assign(ratio_label=deltas["ratio"].astype(str), significant=deltas["p"] < 0.05,
                       panel=deltas["family"] + " · " + deltas["eval_set"])
    sets = eval_set_sort(df)
    order = sorted(df["panel"].unique(), key=lambda p: (family_rank(p.split(" · ")[0]), sets.index(p.split(" · ")[1])))
    color = entry_color(domain or sorted(df["entry"].unique()))
    base = alt.Chart().encode(x=_ratio_axis(df), xOffset="entry:N", color=color)
    layers = [
        alt.Chart().mark_rule(color="gray").encode(y=alt.datum(0)),
        base.mark_rule(**WHISKER).encode(y=alt.Y("delta_ci_low:Q", title="Δ macro AUROC vs real-only"),
                                         y2="delta_ci_high:Q"),
        base.mark_point(size=70).encode(
            y="delta:Q", fill=alt.condition("datum.significant", color, alt.value("white")),
            tooltip=["entry", "task", "eval_set", alt.Tooltip("delta:Q", format="+.4f"),
                     alt.Tooltip("p:Q", format=".2g"), "marker"]),
    ]
    return (alt.layer(*layers, data=df).properties(width=230, height=200)
            .facet(facet=alt.Facet("panel:N", title=None, sort=order), columns=3)
            .resolve_scale(y="independent").configure_legend(orient="bottom", columns=4))


def subgroup_chart(sg: pd.DataFrame, domain: list[str] | None = None, order: list[str] | None = None) -> alt.LayerChart:
    """Macro AUROC per subgroup and entry, with CIs; groups in `order` (age bands by age)."""
    base = alt.Chart(sg).encode(x=alt.X("group:N", title=None, sort=order, axis=alt.Axis(labelAngle=0)),
                                xOffset="entry:N",
                                color=entry_color(domain or sorted(sg["entry"].unique())))
    return alt.layer(
        base.mark_point(filled=True, size=60).encode(
            y=alt.Y("macro_auroc:Q", scale=AUROC, title="macro AUROC"),
            tooltip=["entry", "group", "n", alt.Tooltip("macro_auroc:Q", format=".4f")]),
        base.mark_rule(**WHISKER).encode(y=alt.Y("ci_low:Q", scale=AUROC, title="macro AUROC"), y2="ci_high:Q"),
    ).properties(height=320)


def metric_chart(audit: pd.DataFrame, metric: str, domain: list[str] | None = None) -> alt.Chart:
    """One audit metric per submission, for the rows given: one task's (the page passes one task,
    never several, so no bar is a sum over tasks)."""
    if audit["task"].nunique() > 1:
        raise ValueError("metric_chart takes the audit rows of one task")
    task = audit["task"].iloc[0] if len(audit) else ""
    field = re.sub(r"([.\[\]])", r"\\\1", metric)  # a dotted audit key is one column, not a nested field
    return alt.Chart(audit).mark_bar().encode(
        x=alt.X("entry:N", title=None, axis=alt.Axis(labelAngle=0)), y=alt.Y(f"{field}:Q", title=metric),
        color=entry_color(domain or sorted(audit["entry"].unique())),
        tooltip=["entry", "task", alt.Tooltip(f"{field}:Q", title=metric, format=".4g")],
    ).properties(height=300, title=f"{metric} on {task}")


def cost_chart(costs: pd.DataFrame, domain: list[str] | None = None) -> alt.LayerChart:
    """Utility (primary Δ vs real-only, with CI) against generation speed (synthetic images/s, log)."""
    color = entry_color(domain or sorted(costs["entry"].unique()))
    x = alt.X("images_per_second:Q", scale=alt.Scale(type="log"), title="synthetic images per second (generation)")
    base = alt.Chart(costs).encode(x=x, color=color)
    return alt.layer(
        alt.Chart(costs).mark_rule(color="gray").encode(y=alt.datum(0)),
        base.mark_rule(**WHISKER).encode(y=alt.Y("delta_ci_low:Q", title="primary Δ macro AUROC vs real-only"),
                                         y2="delta_ci_high:Q"),
        base.mark_point(size=80, filled=True).encode(
            y="delta:Q", shape=alt.Shape("device:N", title="device"),
            tooltip=["entry", "task", "device", alt.Tooltip("images_per_second:Q", format=".3g"),
                     alt.Tooltip("device_hours:Q", format=".3g"), alt.Tooltip("delta:Q", format="+.4f")]),
    ).properties(height=360)
