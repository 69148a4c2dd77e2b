"""Submission page: one submission at a glance (manifest, declared training data, every task it was
scored on), then one of its records in full (audit, sampling cost, hashes, environment, timings)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cxrbench.leaderboard import fields, frames
from cxrbench.leaderboard.frames import family_rank
from cxrbench.leaderboard.loader import read_verified
from cxrbench.leaderboard.views import Context, code, pick, plain, table
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
    if (mine["rank_group"] != "").any():
        st.info("Trained on more real patients than the task's own rows: ranked apart, in the group "
                "\"more real data\", on " + ", ".join(mine.loc[mine["rank_group"] != "", "task"]))
    if not mine["within_bounds"].astype(bool).all():
        st.warning("Declared training data is outside the rules of: "
                   + ", ".join(mine.loc[~mine["within_bounds"].astype(bool), "task"]))
    st.subheader(f"Scored on {len(mine)} task(s)")
    table(frames.submission_tasks(ctx.tables, entry), f"tasks-{entry}", main=SUBMISSION_TASKS_MAIN)
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
        st.markdown(manifest_markdown(record))
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
        st.markdown(cost_markdown(cost.iloc[0]))
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



def parameters_text(s) -> str:
    """The parameter count line: cxrbench's own count from the shipped safetensors headers."""
    if s.parameters is None:
        return "— (no safetensors weights in the submission folder, or a record from before they were counted)"
    n = len(s.parameter_files)
    return f"**{s.parameters / 1e6:,.3g} M** ({s.parameters:,}, counted by cxrbench from {n} safetensors file(s))"


def manifest_markdown(record) -> str:
    """The submission's manifest as a reader needs it first: who, what, links, size, training data."""
    s = record.submission
    lines = [f"**{plain(s.name)}** @ {code(s.version)} · {s.kind}"]
    if s.description:
        lines.append(plain(s.description))
    lines.append(f"authors: {plain(', '.join(s.authors)) or '—'} · license: {plain(s.license or '—')}")
    # paper and links are plain http(s) URLs (checked when the manifest and the record are read)
    links = ([f"[paper]({s.paper})"] if s.paper else []) + [f"[{name}]({url})" for name, url in s.links.items()]
    lines.append(f"links: {' · '.join(links) or '—'}")
    lines.append(f"parameters: {parameters_text(s)}")
    lines.append(f"declared training data: {plain(', '.join(s.declared_training_data)) or '—'}")
    for entry in s.training_population:
        lines.append(f"· {plain(entry.describe())}")
    lines.append(f"trained on: {plain(fields.training_population(record)['trained_on'])}")
    if record.scored_labels and record.scored_labels != record.task.labels:
        lines.append(f"scored on {len(record.scored_labels)} of the task's {len(record.task.labels)} labels (the ones "
                     f"it predicts): {plain(', '.join(record.scored_labels))}")
    return "  \n".join(lines)


def cost_markdown(c) -> str:
    """One record's generation cost: measured when its synthetic set was generated (also when this
    record reused the set from the cache), or why there is no measurement."""
    if not c["measured"]:
        return (f"Not measured: the synthetic set was served from the cache and its cache entry holds no "
                f"measurement (made before cxrbench stored one; {c['generate_seconds']:.1f} s recorded, device "
                f"{c['device']}). Regenerating it (`cxrbench evaluate --force`) measures it.")
    kind = "GPU" if str(c["device"]).startswith("GPU") else "CPU"
    when = str(c["measured_at"] or "")[:10]
    how = (f"measured when the set was generated on {when}; this record reused it from the cache"
           if c["reused"] else f"measured in this run ({when})")
    n, done = int(c["n_synthetic"]), int(c["measured_images"])
    timed = (f"in {c['measured_seconds']:.1f} s" if done == n
             else f"(timed on {done:,} of them: {c['measured_seconds']:.1f} s)")
    return (f"{n:,} synthetic images {timed} on {c['device']}: **{c['images_per_second']:.3g} images/s**, "
            f"{c['device_hours']:.3g} {kind}-hours for the task ({how}).")


#: what the submission page's task table shows first (fits 1,400 px); every column under "All columns"
SUBMISSION_TASKS_MAIN = ["task", "eval_set", "delta", "delta_ci_low", "delta_ci_high", "p", "marker", "verdict",
                         "macro_auroc"]
