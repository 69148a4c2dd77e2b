"""Submission page: one submission at a glance (manifest, declared training data, every task it was
scored on), then one of its records in full (audit, sampling cost, hashes, environment, timings)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cxrbench.leaderboard import frames
from cxrbench.leaderboard.frames import family_rank
from cxrbench.leaderboard.loader import read_verified
from cxrbench.leaderboard.views import Context, pick, table
from cxrbench.results import RecordError


def render(ctx: Context) -> None:
    st.header("Submission")
    recs = ctx.tables.records
    entry = pick("Submission", sorted(recs["entry"].unique()), key="submission-entry")
    if entry is None:
        st.info("No records under the current filters.")
        return
    mine = recs[recs["entry"] == entry].sort_values(
        ["family", "ratio"], key=lambda c: c.map(family_rank) if c.name == "family" else c)
    first = mine.iloc[0]
    declared = sorted({d for joined in mine["declared_training_data"] for d in str(joined).split("; ") if d})
    st.markdown(f"**{entry}** · {first['kind']} · declared training data: "
                f"{', '.join(f'`{d}`' for d in declared) or '—'}")
    if not mine["within_bounds"].astype(bool).all():
        st.warning("Declared training data is outside the rules of: "
                   + ", ".join(mine.loc[~mine["within_bounds"].astype(bool), "task"]))
    st.subheader(f"Scored on {len(mine)} task(s)")
    table(frames.submission_tasks(ctx.tables, entry), f"tasks-{entry}")
    task = pick("Record", list(mine["task"] + " (" + mine["budget"] + ")"), key="submission-task")
    row = mine.iloc[list(mine["task"] + " (" + mine["budget"] + ")").index(task)]
    try:  # one record in full, read on demand (and re-verified: it may have changed since the load)
        record = read_verified(ctx.root / row["file"])
    except RecordError as exc:
        st.error(f"This record can no longer be read: {exc}")
        return
    s, t = record.submission, record.task
    if record.environment.isolation.get("mode") == "none":
        st.warning("Not isolated: this submission's code ran without the bubblewrap sandbox (--unsafe-no-sandbox).")
    if not s.training_data_within_bounds:
        st.warning(f"Declared training data is outside this task's rules: {s.bounds_note or s.declared_training_data}")
    c1, c2 = st.columns(2)
    with c1:
        st.subheader("Manifest")
        st.markdown(f"**{s.name}** @ `{s.version}` · {s.kind}  \n"
                    f"authors: {', '.join(s.authors) or '—'} · license: {s.license or '—'}  \n"
                    f"declared training data: {', '.join(s.declared_training_data) or '—'}")
        st.subheader("Hashes")
        hashes = pd.DataFrame([("record content_sha256", record.content_sha256), ("submission sha256", s.sha256),
                               ("task spec sha256", t.spec_sha256), ("predictions sha256", record.predictions_sha256)]
                              + [(f"split {k}", v) for k, v in sorted(record.split_fingerprints.items())],
                              columns=["what", "sha256"])
        st.dataframe(hashes, hide_index=True, width="stretch")
        st.caption(f"task {t.name} v{t.version} · budget {t.budget} · recipe {t.recipe} · seeds {record.seeds} · "
                   f"created {record.created_at} · file `{row['file']}`")
    with c2:
        st.subheader("Environment")
        env = record.environment
        st.json({"cxrbench": env.cxrbench_version, "git_sha": env.git_sha, "python": env.python,
                 "platform": env.platform, "libraries": env.libraries, "hardware": env.hardware}, expanded=1)
        st.subheader("Timings")
        timings = pd.DataFrame([t.model_dump() for t in record.timings], columns=["stage", "seconds", "cached"])
        table(timings, f"timings-{s.name}")
        st.caption(f"total {timings['seconds'].sum():.1f} s")
    st.subheader("Sampling cost")
    cost = frames.costs(ctx.tables)
    cost = cost[(cost["entry"] == entry) & (cost["task"] == t.name) & (cost["budget"] == t.budget)]
    if cost.empty:
        st.caption("No generate stage in this record (no synthetic images in this task).")
    else:
        c = cost.iloc[0]
        if c["measured"]:
            st.markdown(f"{int(c['n_synthetic']):,} synthetic images in {c['generate_seconds']:.1f} s on "
                        f"{c['device']}: **{c['images_per_second']:.3g} images/s**, {c['device_hours']:.3g} "
                        f"{'GPU' if str(c['device']).startswith('GPU') else 'CPU'}-hours for the task")
        else:
            st.markdown(f"Not measured: the synthetic set was served from the cache "
                        f"({c['generate_seconds']:.1f} s recorded, device {c['device']}).")
    st.subheader("Generator audit")
    audit = ctx.tables.audit[ctx.tables.audit["file"] == row["file"]][["metric", "value"]]
    if audit.empty:
        st.caption("This record carries no audit (no synthetic images, or the audit was skipped).")
    else:
        table(audit.reset_index(drop=True), f"audit-{s.name}")
    st.subheader("Scores")
    scores = pd.DataFrame([dict(eval_set=e.eval_set, site=e.site, n_images=e.n_images, macro_auroc=e.macro_auroc,
                                ci_low=e.macro_ci_low, ci_high=e.macro_ci_high, seed_sd=e.seed_sd)
                           for e in record.eval_sets])
    table(scores, f"scores-{s.name}")

