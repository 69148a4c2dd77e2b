"""Detail pages: per-label table, subgroup AUROC, generator audit metrics."""

from __future__ import annotations

import streamlit as st

from cxrbench.leaderboard import charts, frames
from cxrbench.leaderboard.views import Context, need, pick, table


def _task_and_eval_set(ctx: Context, key: str) -> tuple[str | None, str | None]:
    tasks = sorted(ctx.tables.records["task"].unique(), key=_task_order)
    c1, c2 = st.columns(2)
    with c1:
        task = pick("Task", tasks, key=f"{key}-task", index=first_with_synthetic(ctx, tasks))
    with c2:
        ev = pick("Eval set", ctx.eval_sets, key=f"{key}-eval")
    return task, ev


def first_with_synthetic(ctx: Context, tasks: list[str]) -> int:
    """Index of the first task with N > 0: on a real-only task every submission trained the same
    classifier, so its columns would all be identical."""
    ratio = ctx.tables.records.drop_duplicates("task").set_index("task")["ratio"]
    return next((i for i, t in enumerate(tasks) if ratio.get(t, 0) > 0), 0)


def _task_order(name: str):
    """supplement tasks first (the study's main family), then by family order and ratio."""
    fam, _, ratio = name.rpartition("-")
    return (frames.family_rank(fam.rpartition("/")[2]), fam, int(ratio) if ratio.isdigit() else 0)


def render_labels(ctx: Context) -> None:
    st.header("Per-label AUROC")
    task, ev = _task_and_eval_set(ctx, "labels")
    if task is None or ev is None:
        st.info("No records under the current filters.")
        return
    df = frames.per_label(ctx.tables, task, ev)
    if not need(df, f"label scores for {task} on {ev}"):
        return
    st.caption("Per label: Δ AUROC vs the real-only baseline with its 95% CI and Holm-adjusted p (the seed × "
               "patient test of the macro, on each label; Holm over the labels of the eval set; markers * p<0.05, "
               "** p<0.01, *** p<0.001), then the label's AUROC. Blank Δ: the record has no comparison (a "
               "real-only baseline), or per-label tests were withheld (too few seeds).")
    table(df[LABEL_MAIN], f"labels-{task.replace('/', '_')}-{ev.replace(':', '_')}")
    with st.expander("AUROC per label and submission (wide), and every column"):
        wide = df.pivot_table(index="label", columns="entry", values="auroc", aggfunc="first").reset_index()
        table(wide, f"labels-wide-{task.replace('/', '_')}")
        table(df, f"labels-all-{task.replace('/', '_')}-{ev.replace(':', '_')}")


#: the per-label page's main table (fits 1,400 px): Δ, its CI and Holm p first, the AUROC after
LABEL_MAIN = ["label", "entry", "delta", "delta_ci_low", "delta_ci_high", "p_holm", "marker", "auroc"]


def render_subgroups(ctx: Context) -> None:
    st.header("Subgroup AUROC")
    task, ev = _task_and_eval_set(ctx, "subgroups")
    attrs = sorted(ctx.tables.subgroups["attribute"].unique())
    attribute = pick("Attribute", attrs, key="subgroups-attribute")
    if task is None or ev is None or attribute is None:
        st.info("No subgroup scores under the current filters.")
        return
    sg = frames.subgroups(ctx.tables, task, ev, attribute)
    if not need(sg, f"{attribute} subgroups for {task} on {ev}"):
        return
    st.altair_chart(charts.subgroup_chart(sg, ctx.palette, order=sorted(sg["group"].unique(), key=frames.group_order)),
                    width="stretch")
    st.subheader("Worst group and largest gap")
    gaps = frames.subgroup_gaps(sg)
    if gaps.empty:
        st.info(f"Fewer than two {attribute} groups have a macro AUROC here, so there is no worst group or gap.")
    else:
        table(gaps, f"subgroup-gaps-{attribute}")
    table(sg, f"subgroups-{attribute}")


def render_audit(ctx: Context) -> None:
    st.header("Generator audit")
    st.caption("Fidelity, diversity, memorisation and leakage metrics of each generator's synthetic set, as "
               "recorded by `cxrbench evaluate` (the headline numbers of the record's `audit` section; "
               "`name[space]` = measured in that feature space; flags: 1 = raised).")
    df = frames.audit(ctx.tables)
    metrics = [c for c in df.columns if c not in ("feature_space", "entry", "task", "ratio")]
    if not metrics:
        st.info("No audit metrics under the current filters.")
        return
    c1, c2 = st.columns(2)
    with c1:  # one task at a time: a metric is never added up across tasks
        task = pick("Task", sorted(df["task"].unique(), key=_task_order), key="audit-task")
    with c2:
        metric = pick("Metric", metrics, key="audit-metric")
    mine = df[df["task"] == task]
    spaces = sorted(mine["feature_space"].unique())
    if len(spaces) > 1:  # a Fréchet distance compares only within one feature space
        space = pick("Feature space", spaces, key="audit-space")
        mine = mine[mine["feature_space"] == space]
    st.caption(f"Feature space: {', '.join(sorted(mine['feature_space'].unique()))}")
    st.altair_chart(charts.metric_chart(mine.dropna(subset=[metric]), metric, ctx.palette), width="stretch")
    # one row per metric (rates, distances, counts): 4 significant digits shows each, 1902 as 1902
    table(mine.set_index("entry")[metrics].T.rename_axis("metric").reset_index(),
          f"generator-audit-{task.replace('/', '_')}", number_format="%.4g")
