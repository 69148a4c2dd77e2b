"""Flatten result records into the tables the pages read (one row per record / eval set / label ...).

Every table carries a `file` column (the record's path relative to the store) to join on. Pure
functions: records in, DataFrames out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxrbench.leaderboard import fields
from cxrbench.leaderboard.standing import population_of
from cxrbench.results import ResultRecord
from cxrbench.trust.signing import SignatureCheck

TABLES = ("records", "evals", "labels", "comparisons", "subgroups", "audit", "timings")

COLUMNS: dict[str, tuple[str, ...]] = {
    "records": ("file", "key", "content_sha256", "task", "task_version", "family", "ratio", "profile",
                "budget", "label_set", "baseline", "submission", "submission_version", "entry", "kind",
                "within_bounds", "bounds_note", "isolated", "created_at", "n_seeds", "total_seconds", "status",
                "generate_seconds", "generate_cached", "n_synthetic", "device", "measured", "images_per_second",
                "measured_images", "measured_seconds", "measured_at", "reused", "declared_training_data",
                "population", "signer_key", "signer", "trained_on", "data_group", "rank_group", "feature_space"),
    "evals": ("file", "eval_set", "site", "n_images", "n_patients", "macro_auroc", "ci_low", "ci_high",
              "seed_sd", "n_macro_labels"),
    "labels": ("file", "eval_set", "label", "auroc", "ci_low", "ci_high", "n", "n_pos", "delta", "delta_ci_low",
               "delta_ci_high", "p_value", "p_holm", "significant"),
    "comparisons": ("file", "eval_set", "against", "endpoint", "delta", "ci_low", "ci_high", "p_value", "mde",
                    "verdict", "verdict_reason", "stars", "method", "n_significant_labels"),
    "subgroups": ("file", "eval_set", "attribute", "group", "n", "n_pos", "macro_auroc", "ci_low", "ci_high"),
    "audit": ("file", "metric", "value"),
    "timings": ("file", "stage", "seconds", "cached"),
}


@dataclass
class Tables:
    """All published records as tables, plus the files that were skipped and why."""

    records: pd.DataFrame
    evals: pd.DataFrame
    labels: pd.DataFrame
    comparisons: pd.DataFrame
    subgroups: pd.DataFrame
    audit: pd.DataFrame
    timings: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.records.empty


def record_rows(record: ResultRecord, file: str, signer: SignatureCheck | None = None) -> dict[str, list[dict[str, Any]]]:
    """The rows one record contributes to each table; `signer`: its checked signature (valid or unsigned)."""
    t, s = record.task, record.submission
    signed = signer is not None and signer.status == "valid"
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    rows["records"].append(dict(
        file=file, key=record.key, content_sha256=record.content_sha256, task=t.name, task_version=t.version,
        family=t.family, ratio=t.supplement_ratio, profile=t.profile, budget=t.budget, label_set=t.label_set,
        baseline=t.baseline, submission=s.name, submission_version=s.version, entry=f"{s.name}@{s.version}",
        kind=s.kind, within_bounds=s.training_data_within_bounds, bounds_note=s.bounds_note,
        # False only for runs with --unsafe-no-sandbox (older records carry no isolation: unknown → True)
        isolated=record.environment.isolation.get("mode") != "none", created_at=record.created_at,
        n_seeds=len(record.seeds), total_seconds=float(sum(x.seconds for x in record.timings)), status=record.status,
        declared_training_data="; ".join(s.declared_training_data), **fields.generation_cost(record),
        population=population_of(record), signer_key=signer.public_key if signed else None,
        signer=signer.fingerprint if signed else None, **fields.training_population(record),
        # the audit's figures belong to this space (name@version); never compared across spaces
        feature_space=(record.audit or {}).get("feature_space")))
    deltas = {(c.eval_set, d.label): d for c in record.comparisons for d in c.labels}
    for ev in record.eval_sets:
        rows["evals"].append(dict(file=file, eval_set=ev.eval_set, site=ev.site, n_images=ev.n_images,
                                  n_patients=ev.n_patients, macro_auroc=ev.macro_auroc, ci_low=ev.macro_ci_low,
                                  ci_high=ev.macro_ci_high, seed_sd=ev.seed_sd, n_macro_labels=len(ev.macro_labels)))
        for lab in ev.labels:
            d = deltas.get((ev.eval_set, lab.label))
            rows["labels"].append(dict(
                file=file, eval_set=ev.eval_set, label=lab.label, auroc=lab.auroc, ci_low=lab.ci_low,
                ci_high=lab.ci_high, n=lab.n, n_pos=lab.n_pos, delta=d.delta if d else None,
                delta_ci_low=d.ci_low if d else None, delta_ci_high=d.ci_high if d else None,
                p_value=d.p_value if d else None, p_holm=d.p_holm if d else None,
                significant=bool(d.significant) if d else False))
    for c in record.comparisons:
        rows["comparisons"].append(dict(file=file, **fields.row(c),
                                        n_significant_labels=sum(bool(lab.significant) for lab in c.labels)))
    for g in record.subgroups:
        rows["subgroups"].append(dict(file=file, eval_set=g.eval_set, attribute=g.attribute, group=g.group,
                                      n=g.n, n_pos=g.n_pos, macro_auroc=g.macro_auroc, ci_low=g.ci_low,
                                      ci_high=g.ci_high))
    for metric, value in flatten_numbers(record.audit or {}):
        rows["audit"].append(dict(file=file, metric=metric, value=value))
    for st in record.timings:
        rows["timings"].append(dict(file=file, stage=st.stage, seconds=st.seconds, cached=st.cached))
    return rows


#: audit subtrees that are settings, per-finding detail or bookkeeping, not headline metrics
AUDIT_SKIP = frozenset({"config", "per_finding", "per_condition", "calibration", "closest", "seconds", "gallery"})


def flatten_numbers(tree: dict, prefix: str = "") -> list[tuple[str, float]]:
    """Headline numeric leaves of the free-form audit section as (dotted.key, value).

    A list of dicts keyed by `space` becomes `name[space].field`; settings (tolerances,
    thresholds, `config`) and per-finding detail are left out.
    """
    out = []
    for k, v in tree.items():
        if k in AUDIT_SKIP or k.startswith("per_") or "tolerance" in k or "threshold" in k:
            continue
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.extend(flatten_numbers(v, name + "."))
        elif isinstance(v, list):
            # memorization.spaces = [{space: s, share_close: ...}] -> memorization[s].share_close
            base = prefix.rstrip(".") if k == "spaces" and prefix else name
            for item in v:
                if isinstance(item, dict) and isinstance(item.get("space"), str):
                    rest = {key: val for key, val in item.items() if key != "space"}
                    out.extend(flatten_numbers(rest, f"{base}[{item['space']}]."))
        elif isinstance(v, (bool, int, float)):
            out.append((name, float(v)))
    return out


def build_tables(rows: dict[str, list[dict]], skipped: list[tuple[str, str]] | None = None) -> Tables:
    frames = {name: pd.DataFrame(rows.get(name) or [], columns=list(COLUMNS[name])) for name in TABLES}
    return Tables(**frames, skipped=list(skipped or []))


def concat_tables(parts: list[Tables], skipped: list[tuple[str, str]]) -> Tables:
    frames = {}
    for name in TABLES:
        dfs = [getattr(p, name) for p in parts if not getattr(p, name).empty]
        frames[name] = (pd.concat(dfs, ignore_index=True) if dfs
                        else pd.DataFrame(columns=list(COLUMNS[name])))
    return Tables(**frames, skipped=skipped)
