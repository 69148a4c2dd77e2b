"""Compare two submissions: paired Δ per eval set and per label on one task, from the stored predictions."""

from __future__ import annotations

import streamlit as st

from cxrbench.leaderboard import compare_frames, frames
from cxrbench.leaderboard.loader import read_verified
from cxrbench.leaderboard.store import PAIRWISE_FILE, read_pairwise
from cxrbench.leaderboard.views import Context, pick, table
from cxrbench.leaderboard.views.details import _task_order, first_with_synthetic


@st.cache_data(show_spinner="Comparing the stored predictions…", max_entries=32)
def _computed(file_a: str, file_b: str, sha_a: str, sha_b: str) -> list:
    """`cxrbench compare` on two stored records (cached per pair of record contents)."""
    from pathlib import Path

    from cxrbench.compare import compare_records

    a, b = read_verified(Path(file_a)), read_verified(Path(file_b))
    return list(compare_records(a, b, Path(file_a).parent, Path(file_b).parent))


def top_two(ctx: Context, records) -> tuple[str, str]:
    """The two entries with the highest primary-endpoint macro AUROC among `records` (one task, one budget)."""
    best = frames.primary(ctx.tables)
    best = best[best["file"].isin(set(records["file"]))].sort_values(["macro_auroc", "entry"], ascending=[False, True])
    ranked = list(dict.fromkeys(best["entry"]))
    entries = sorted(records["entry"].unique())
    return (ranked + entries)[0], next(e for e in ranked[1:] + entries if e != (ranked + entries)[0])


def render(ctx: Context) -> None:
    st.header("Compare two submissions")
    recs = ctx.tables.records
    counts = recs.groupby("task")["entry"].nunique()
    tasks = sorted(counts[counts >= 2].index, key=_task_order)
    if not tasks:
        st.info("No task has records of two submissions under the current filters.")
        return
    c1, c2, c3 = st.columns(3)
    with c1:
        task = pick("Task", tasks, key="compare-task", index=first_with_synthetic(ctx, tasks))
    mine = recs[recs["task"] == task]
    budgets = sorted(mine["budget"].unique())
    if len(budgets) > 1:
        mine = mine[mine["budget"] == pick("Budget", budgets, key="compare-budget")]
    entries = sorted(mine["entry"].unique())
    rows = mine.set_index("entry")
    sha = rows["content_sha256"].to_dict()
    pairwise = read_pairwise((ctx.root / rows["file"].iloc[0]).parent / PAIRWISE_FILE)
    first = top_two(ctx, mine)  # the question a reader opens it with: the best two, and how sure
    with c2:
        a = pick("Submission A", entries, key="compare-a", index=entries.index(first[0]))
    others = [e for e in entries if e != a]
    with c3:
        b = pick("Submission B", others, key="compare-b", index=others.index(first[1]) if first[1] in others else 0)
    if a is None or b is None:
        st.info("Pick two different submissions.")
        return
    st.caption(f"Δ = macro AUROC of **{a}** − **{b}** on {task} ({rows.loc[a, 'budget']}), paired on the same test "
               "images, from the predictions stored with both records: the numbers `cxrbench compare` prints. "
               "Per label: the same seed × patient test on each label, Holm-corrected over the labels of each "
               "eval set.")
    folder = ctx.root / rows.loc[a, "file"]
    stored = compare_frames.stored_pair(pairwise, a, b, sha)
    if stored is not None:
        comparisons, flipped = stored
        st.caption(f"From the task's `{PAIRWISE_FILE}`, computed by `cxrbench publish`.")
    else:
        flipped = False
        st.info("No paired test of these two records is stored (or a record changed since). Their own scores "
                "are below; the paired Δ, which decides significance, is computed on request.")
        scores = frames.scores(ctx.tables)
        scores = scores[scores["file"].isin({rows.loc[a, "file"], rows.loc[b, "file"]})]
        table(scores[["entry", "eval_set", "macro_auroc", "ci_low", "ci_high"]].sort_values(
            ["eval_set", "entry"], key=frames._eval_set_key), f"compare-scores-{a}-{b}".replace("/", "_"))
        if not st.button("Compute from the stored predictions", key="compare-compute"):
            return
        try:
            comparisons = _computed(str(folder), str(ctx.root / rows.loc[b, "file"]),
                                    sha[a], sha[b])
        except Exception as exc:  # a missing predictions file, an unknown task, ...: say why, keep the page
            st.error(f"Cannot compare these records: {exc}")
            return
    st.subheader("Per eval set")
    table(compare_frames.eval_set_table(comparisons, flipped), f"compare-{a}-{b}".replace("/", "_"))
    for method in compare_frames.methods(comparisons):
        st.caption(f"Method: {method}")
    st.subheader("Per label")
    table(compare_frames.label_table(comparisons, flipped), f"compare-labels-{a}-{b}".replace("/", "_"))
