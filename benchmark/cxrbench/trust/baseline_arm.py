"""The real-only baseline arm of a record, as digests that `publish` compares with the evaluator's own.

A record's Δ is its submission's AUROC minus the baseline's, and both arms sit in the predictions
file the submitter hands in. Rescoring that file reproduces whatever baseline it holds, so a
record whose baseline rows were degraded and rescored passes every check that only recomputes.
The baseline arm of a task is the reference recipe on public training rows with fixed seeds: the
same for every submission. Its digest per (eval set, seed) is kept by the store from the first
record the store trusts (`cxrbench.leaderboard.baselines`), and every later record's arm must
match it, or (another machine) its macro AUROC must be within the reproducibility tolerance.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from cxrbench.results import ResultRecord


def reference_arm(record: ResultRecord) -> tuple[str, str] | None:
    """(what the arm is the reference run of, the predictions' `model` value holding it), or None.

    A task's baseline arm is its baseline task's reference run; on a real-only task of a
    generator family (N = 0) the submission arm is itself the reference run; a classifier is
    compared with the reference recipe on its task's training rows."""
    t = record.task
    if t.baseline:
        return t.baseline, "baseline"
    if record.submission.kind == "generator" and t.supplement_ratio == 0:
        return t.name, "submission"
    if record.submission.kind == "classifier":
        return f"{t.name} (reference recipe)", "baseline"
    return None


def arm_digests(table: pd.DataFrame, model: str, labels: list[str]) -> dict[str, dict[str, str]]:
    """eval set → seed → sha256 over one arm's image ids (in file order) and float32 probabilities."""
    part = table[table["model"] == model]
    out: dict[str, dict[str, str]] = {}
    for (eval_set, seed), rows in part.groupby(["eval_set", "seed"], sort=True):
        h = hashlib.sha256()
        h.update("\n".join(rows["image_id"].astype(str)).encode() + b"\0")
        h.update(np.ascontiguousarray(rows[labels].to_numpy(np.float32)).tobytes())
        out.setdefault(str(eval_set), {})[str(int(seed))] = h.hexdigest()
    return out


def arm_differences(found: dict[str, dict[str, str]], verified: dict[str, dict[str, str]]) -> list[str]:
    """`eval set seed N` for each part of `found` that is not the verified arm (a part the
    verified arm lacks counts as different: the record claims a run the evaluator never made)."""
    return [f"{eval_set} seed {seed}" for eval_set, seeds in sorted(found.items(), key=lambda kv: (kv[0] != "internal_test", kv[0]))
            for seed, digest in sorted(seeds.items(), key=lambda kv: int(kv[0]))
            if verified.get(eval_set, {}).get(seed) != digest]
