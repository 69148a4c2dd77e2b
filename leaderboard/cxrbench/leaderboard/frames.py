"""The aggregations behind each page: pure pandas functions of the loaded tables and the filters."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from cxrbench.leaderboard.ranking import rank_table
from cxrbench.leaderboard.tables import TABLES, Tables
from cxrbench.presentation import VERDICT_WORDS
from cxrbench.results import stars
from cxrbench.tasking import FAMILIES

INTERNAL = "internal_test"


def family_rank(family: str) -> int:
    """Display order of task families: the study's supplement family first."""
    return FAMILIES.index(family) if family in FAMILIES else len(FAMILIES)


@dataclass(frozen=True)
class Filters:
    board: str | None = None  # one standing and eval population (`boards.py`); None: every record
    profile: str | None = None
    budget: str | None = None
    label_set: str | None = None
    eval_sets: tuple[str, ...] | None = None  # None: all
    search: str | None = None  # keep submissions whose entry (name@version) contains this, any case


def options(tables: Tables) -> dict[str, list[str]]:
    """The values each filter can take in the loaded store."""
    from cxrbench.leaderboard.boards import boards

    r = tables.records
    return {"board": boards(r), "profile": sorted(r["profile"].unique()), "budget": sorted(r["budget"].unique()),
            "label_set": sorted(r["label_set"].unique()), "eval_set": eval_set_order(tables.evals["eval_set"].unique())}


def eval_set_order(names) -> list[str]:
    return sorted(set(names), key=lambda e: (e != INTERNAL, e))


def apply_filters(tables: Tables, f: Filters) -> Tables:
    r = tables.records
    keep = pd.Series(True, index=r.index)
    for col in ("board", "profile", "budget", "label_set"):
        value = getattr(f, col)
        if value is not None:
            keep &= r[col] == value
    if f.search:
        keep &= r["entry"].str.contains(f.search, case=False, regex=False)
    files = set(r.loc[keep, "file"])
    out = {}
    for name in TABLES:
        df = getattr(tables, name)
        df = df[df["file"].isin(files)]
        if f.eval_sets is not None and "eval_set" in df.columns:
            df = df[df["eval_set"].isin(f.eval_sets)]
        out[name] = df
    return Tables(**out, skipped=tables.skipped)


def scores(tables: Tables) -> pd.DataFrame:
    """One row per record × eval set: the record's identity joined with its macro AUROC and CI."""
    ident = tables.records[["file", "task", "task_version", "family", "ratio", "budget", "entry", "submission",
                            "kind", "within_bounds", "baseline", "population", "trained_on", "rank_group"]]
    return tables.evals.merge(ident, on="file", how="inner")


def with_deltas(tables: Tables) -> pd.DataFrame:
    """scores() plus Δ vs the real-only baseline, its CI, MDE, p-value, verdict and marker (the record's own
    stars, `cxrbench.results.stars`: one convention on every surface)."""
    sc = scores(tables)
    comp = tables.comparisons.rename(columns={"ci_low": "delta_ci_low", "ci_high": "delta_ci_high", "p_value": "p"})
    out = sc.merge(comp[["file", "eval_set", "against", "endpoint", "delta", "delta_ci_low", "delta_ci_high", "mde",
                         "p", "verdict", "verdict_reason", "stars", "n_significant_labels"]], on=["file", "eval_set"],
                   how="left")
    out["marker"] = out["stars"].fillna("")
    # in words, never `no_detectable…`; the record's reason travels with its verdict (no test: too few seeds, zero variance)
    words = out["verdict"].fillna("").map(lambda v: VERDICT_WORDS.get(v, v))
    out["verdict"] = [f"{v}: {r}" if isinstance(r, str) and r else v for v, r in zip(words, out["verdict_reason"])]
    return out.drop(columns=["stars", "verdict_reason"])


def overview(tables: Tables, pairwise: pd.DataFrame, family: str, rank_eval_set: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per task of a family: entries with rank intervals on `rank_eval_set`, Δ vs real-only, what each
    generator learned from, and the internal − external gap. Returns the table and the ranking method
    used per task. Entries a task ranks apart (`group` "more real data": trained on more real patients
    than the task's own rows) get rank intervals among themselves only, listed after the rest.

    The family's real-only baseline task (N = 0 of supplement / cross_source) is not ranked: no
    generator takes part in it, so its records differ only by chance (see `baseline_levels`).
    """
    sc = with_deltas(tables)
    sc = sc[(sc["family"] == family) & ~is_generator_baseline(sc)]
    methods: dict[str, str] = {}
    parts = []
    # one ranking per eval population (records of other test patients are never ranked together), and
    # within it per group ("more real data" apart where the task says so)
    for (task, version, budget, population, group), grp in sc.groupby(
            ["task", "task_version", "budget", "population", "rank_group"], sort=False):
        on = grp[grp["eval_set"] == rank_eval_set]
        if on.empty:
            continue
        pairs = pairwise[(pairwise["task"] == task) & (pairwise["task_version"] == version)
                         & (pairwise["budget"] == budget) & (pairwise["eval_set"] == rank_eval_set)
                         & (pairwise["population"] == population)
                         & pairwise["fresh"].astype(bool)] if len(pairwise) else None
        ranked, method = rank_table(on[["entry", "macro_auroc", "ci_low", "ci_high"]], pairs)
        # a task ranked in several groups says each group's method, exactly (never a blanket fallback)
        methods[task] = method if methods.get(task, method) == method else f"{methods[task]}; {group or 'main'}: {method}"
        internal = grp[grp["eval_set"] == INTERNAL].set_index("entry")["macro_auroc"]
        external = grp[grp["eval_set"] != INTERNAL].groupby("entry")["macro_auroc"].mean()
        extra = on.set_index("entry")
        ranked = ranked.assign(
            task=task, ratio=int(grp["ratio"].iloc[0]), budget=budget,
            delta=ranked["entry"].map(extra["delta"]), mde=ranked["entry"].map(extra["mde"]),
            delta_ci_low=ranked["entry"].map(extra["delta_ci_low"]), delta_ci_high=ranked["entry"].map(extra["delta_ci_high"]),
            p=ranked["entry"].map(extra["p"]), marker=ranked["entry"].map(extra["marker"]),
            verdict=ranked["entry"].map(extra["verdict"]),
            internal=ranked["entry"].map(internal), external_mean=ranked["entry"].map(external),
            within_bounds=ranked["entry"].map(extra["within_bounds"]),
            trained_on=ranked["entry"].map(extra["trained_on"]), group=group)
        ranked["gap"] = ranked["internal"] - ranked["external_mean"]
        parts.append(ranked)
    cols = OVERVIEW_PRIMARY + OVERVIEW_SECONDARY + ["rank_best", "rank_worst"]
    if not parts:
        return pd.DataFrame(columns=cols), methods
    out = pd.concat(parts, ignore_index=True)[cols]
    return out.sort_values(["ratio", "task", "group", "rank_best", "macro_auroc"],
                           ascending=[True, True, True, True, False], kind="stable").reset_index(drop=True), methods


#: the overview's columns: the first set is always shown (fits 1,400 px), the second on request
#: what the Overview shows (fits 1,400 px without scrolling sideways); the rest under "More columns"
OVERVIEW_PRIMARY = ["task", "group", "rank", "entry", "delta", "delta_ci_low", "delta_ci_high", "p", "marker",
                    "verdict", "macro_auroc"]
OVERVIEW_SECONDARY = ["mde", "trained_on", "ci_low", "ci_high", "internal", "external_mean", "gap", "within_bounds",
                      "ratio", "budget"]


def is_generator_baseline(df: pd.DataFrame) -> pd.Series:
    """Rows of the N = 0 task of a generator family (real images only, the same for every generator)."""
    return (df["ratio"] == 0) & df["family"].isin(["supplement", "cross_source"])


def baseline_levels(tables: Tables, family: str) -> pd.DataFrame:
    """Macro AUROC of a family's real-only (N = 0) task per eval set: mean and range over its records."""
    sc = scores(tables)
    sc = sc[(sc["family"] == family) & is_generator_baseline(sc)]
    return sc.groupby(["task", "eval_set"], as_index=False, sort=False).agg(
        macro_auroc=("macro_auroc", "mean"), lowest=("macro_auroc", "min"), highest=("macro_auroc", "max"),
        records=("entry", "count"))


def curve(tables: Tables, family: str = "supplement") -> pd.DataFrame:
    """Macro AUROC vs N% per entry and eval set (the study's central figure), with CIs.

    Ratio-0 (real-only) rows of the family are kept: they anchor every curve at N = 0.
    """
    sc = scores(tables)
    sc = sc[sc["family"] == family]
    out = sc[["entry", "ratio", "eval_set", "macro_auroc", "ci_low", "ci_high", "task", "budget"]]
    return out.sort_values(["eval_set", "entry", "ratio"], key=_eval_set_key).reset_index(drop=True)


def _eval_set_key(col: pd.Series) -> pd.Series:
    """Sort key putting internal_test before the external sets."""
    return col.map(lambda e: (e != INTERNAL, e)) if col.name == "eval_set" else col


def real_only_reference(tables: Tables, baseline_tasks: set[str] | None = None) -> pd.DataFrame:
    """Macro AUROC of the real-only baseline task(s) per eval set (mean over the entries that ran it)."""
    sc = scores(tables)
    base = sc[sc["ratio"] == 0] if baseline_tasks is None else sc[sc["task"].isin(baseline_tasks)]
    return base.groupby(["task", "eval_set"], as_index=False).agg(
        macro_auroc=("macro_auroc", "mean"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"))


def synthetic_vs_real(tables: Tables) -> pd.DataFrame:
    """Synthetic-only N% next to real + N% of the same entry, with Δ vs real-only, its p-value and the
    record's own verdict (`cxrbench.results.Verdict`: the one vocabulary of every surface)."""
    d = with_deltas(tables)
    syn = d[d["family"] == "synthetic_only"]
    sup = d[d["family"] == "supplement"][["entry", "ratio", "eval_set", "macro_auroc"]]
    out = syn.merge(sup.rename(columns={"macro_auroc": "real_plus_synthetic"}),
                    on=["entry", "ratio", "eval_set"], how="left")
    out = out.rename(columns={"macro_auroc": "synthetic_only"})  # `delta`: vs the real-only baseline
    out["real_only"] = out["synthetic_only"] - out["delta"]
    cols = ["entry", "ratio", "eval_set", "synthetic_only", "ci_low", "ci_high", "real_only", "delta",
            "delta_ci_low", "delta_ci_high", "p", "marker", "verdict", "real_plus_synthetic"]
    return out[cols].sort_values(["eval_set", "entry", "ratio"], key=_eval_set_key).reset_index(drop=True)


def deltas(tables: Tables, family: str | None = None) -> pd.DataFrame:
    """Δ macro AUROC vs the real-only baseline per entry, task and eval set (baselines themselves omitted)."""
    d = with_deltas(tables)
    d = d[d["against"].notna()]
    if family:
        d = d[d["family"] == family]
    cols = ["task", "family", "ratio", "entry", "eval_set", "against", "macro_auroc", "delta", "delta_ci_low",
            "delta_ci_high", "p", "marker", "verdict", "n_significant_labels"]
    return d[cols].sort_values(["family", "ratio", "entry", "eval_set"], key=_eval_set_key).reset_index(drop=True)


def per_label(tables: Tables, task: str, eval_set: str) -> pd.DataFrame:
    """Per label × entry on one task and eval set: Δ AUROC vs real-only with its CI and Holm-adjusted p
    (over the labels of the eval set; the marker is its stars), then the AUROC with its CI."""
    r = tables.records[tables.records["task"] == task][["file", "entry"]]
    lab = tables.labels[tables.labels["eval_set"] == eval_set].merge(r, on="file")
    lab = lab.assign(marker=[stars(p) for p in lab["p_holm"]])
    return lab[["label", "entry", "delta", "delta_ci_low", "delta_ci_high", "p_holm", "marker", "auroc", "ci_low",
                "ci_high", "n", "n_pos"]]


def group_order(group: str) -> tuple:
    """Subgroups in their natural order: age bands by age (`<40`, `40-60`, `60-80`, `>=80`), others by name."""
    digits = re.search(r"\d+", str(group))
    if digits is None:
        return (1, str(group))
    start = int(digits.group())
    return (0, start - 0.5 if str(group).startswith("<") else start, str(group))


def subgroups(tables: Tables, task: str, eval_set: str, attribute: str) -> pd.DataFrame:
    r = tables.records[tables.records["task"] == task][["file", "entry"]]
    sg = tables.subgroups[(tables.subgroups["eval_set"] == eval_set) & (tables.subgroups["attribute"] == attribute)]
    out = sg.merge(r, on="file")[["entry", "group", "n", "n_pos", "macro_auroc", "ci_low", "ci_high"]]
    return out.sort_values(["group", "entry"], key=lambda c: c.map(group_order) if c.name == "group" else c,
                           kind="stable").reset_index(drop=True)


def subgroup_gaps(sg: pd.DataFrame) -> pd.DataFrame:
    """Worst group and largest gap (best − worst macro AUROC) per entry; none for an entry with fewer
    than two groups scored (one group has no worst, and its gap would read 0)."""
    rows = []
    for entry, grp in sg.dropna(subset=["macro_auroc"]).groupby("entry"):
        if len(grp) < 2:
            continue
        worst = grp.loc[grp["macro_auroc"].idxmin()]
        rows.append(dict(entry=entry, worst_group=worst["group"], worst_macro_auroc=worst["macro_auroc"],
                         largest_gap=grp["macro_auroc"].max() - worst["macro_auroc"]))
    return pd.DataFrame(rows, columns=["entry", "worst_group", "worst_macro_auroc", "largest_gap"])


def audit(tables: Tables) -> pd.DataFrame:
    """Generator audit metrics: one row per entry × task, one column per metric, sorted by feature
    space first (a Fréchet distance compares only with others of its own space)."""
    index = ["feature_space", "entry", "task", "ratio"]
    recs = tables.records[["file", "entry", "task", "ratio", "feature_space"]].fillna({"feature_space": "?"})
    a = tables.audit.merge(recs, on="file")
    if a.empty:
        return pd.DataFrame(columns=index)
    wide = a.pivot_table(index=index, columns="metric", values="value", aggfunc="first")
    return wide.reset_index().sort_values(["feature_space", "entry", "ratio"]).reset_index(drop=True)


def entries(tables: Tables) -> list[str]:
    return sorted(tables.records["entry"].unique())


def primary(tables: Tables) -> pd.DataFrame:
    """with_deltas() on each record's primary endpoint: the eval set its comparison marks primary,
    or internal_test for a record without comparisons (a real-only baseline)."""
    d = with_deltas(tables)
    has_primary = set(d.loc[d["endpoint"] == "primary", "file"])
    keep = (d["endpoint"] == "primary") | (~d["file"].isin(has_primary) & (d["eval_set"] == INTERNAL))
    return d[keep].drop_duplicates("file")


def submission_tasks(tables: Tables, entry: str) -> pd.DataFrame:
    """Every task one submission was scored on, with its primary-endpoint result."""
    d = primary(tables)
    d = d[d["entry"] == entry].sort_values(["family", "ratio"], key=lambda c: c.map(family_rank) if c.name == "family" else c)
    return d[["task", "budget", "eval_set", "macro_auroc", "ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high",
              "p", "mde", "marker", "verdict", "trained_on", "within_bounds"]].reset_index(drop=True)


# The measured generation (when the set was made) first; `generate_seconds`, this record's own stage
# (about 0 s when the set came from the cache), last, so a reused set never reads as free.
COST_COLUMNS = ["entry", "task", "ratio", "budget", "n_synthetic", "images_per_second", "measured_seconds",
                "device", "device_hours", "measured_at", "reused", "measured", "measured_images",
                "eval_set", "delta", "delta_ci_low", "delta_ci_high", "p", "marker", "verdict", "generate_seconds"]


def costs(tables: Tables) -> pd.DataFrame:
    """Generation cost next to utility, per record that generated a synthetic set.

    `measured` (`fields.generation_cost`): the record carries a generation time measured when its
    synthetic set was made (v3 records, also when the set came from the cache), or its own generate
    stage ran uncached. Device-hours = the task's synthetic images at the measured rate."""
    d = primary(tables)
    r = tables.records[["file", "generate_seconds", "generate_cached", "n_synthetic", "device", "measured",
                        "images_per_second", "measured_images", "measured_seconds", "measured_at", "reused"]]
    d = d.merge(r, on="file")
    d = d[d["generate_seconds"].notna() & (d["ratio"] > 0)].copy()  # N = 0: nothing generated
    d["measured"] = d["measured"].fillna(False).astype(bool)
    d["images_per_second"] = pd.to_numeric(d["images_per_second"]).where(d["measured"])
    d["device_hours"] = (pd.to_numeric(d["n_synthetic"]) / d["images_per_second"] / 3600).where(d["measured"])
    for col in ("n_synthetic", "measured_images"):  # image counts, not measurements
        d[col] = pd.to_numeric(d[col]).round().astype("Int64")
    return d[COST_COLUMNS].sort_values(["task", "entry"]).reset_index(drop=True)
