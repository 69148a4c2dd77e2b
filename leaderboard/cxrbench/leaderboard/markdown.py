"""Result records as Markdown tables (`cxrbench leaderboard export --markdown`; the README's
results section is made from the published store with it): one row per complete record, the
submission-vs-submission comparisons of `pairwise.json`, and the generator audits; the records of
one eval population at a time (`dev`, or `held-out:<key fingerprint>`), never two mixed."""

from __future__ import annotations

import json
from pathlib import Path

from cxrbench.leaderboard.standing import population_of
from cxrbench.leaderboard.store import PAIRWISE_FILE, record_files
from cxrbench.presentation import (
    delta_ci,
    delta_short,
    macro_text,
    num,
    p_text,
    primary,
    site_name,
    trained_on,
    verdict_text,
)
from cxrbench.results import Comparison, ResultRecord, read_record


def results_markdown(folder: Path, population: str = "dev") -> str:
    """Every table for the records of `population` under `folder`, as one Markdown text."""
    records = [r for r in map(read_record, record_files(folder))
               if r.status == "complete" and population_of(r) == population]
    records.sort(key=lambda r: (r.task.family, r.task.supplement_ratio, r.submission.name))
    parts = [_records_table(records), _pairwise_table(Path(folder), population), _audit_table(records)]
    return "\n\n".join(part for part in parts if part) + "\n"


def _records_table(records: list[ResultRecord]) -> str:
    lines = ["| task | submission | internal macro AUROC (seed mean ± sd) | Δ primary [95% CI] | p | MDE | verdict "
             "| generator trained on | external macro AUROC | Δ external |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        comp = primary(r.comparisons)
        scores = {s.eval_set: s for s in r.eval_sets}
        ext_s = ", ".join(f"{site_name(n)} {num(s.macro_auroc)}" for n, s in scores.items() if n != "internal_test")
        ext_d = ", ".join(f"{site_name(c.eval_set)} {delta_short(c)}" for c in r.comparisons if c.endpoint != "primary")
        cells = ([delta_ci(comp), p_text(comp.p_value), num(comp.mde), verdict_text(comp)] if comp
                 else ["baseline", "", "", ""])
        lines.append(f"| {r.task.name} | {r.submission.name} | {macro_text(scores['internal_test'])} | "
                     + " | ".join(cells) + f" | {trained_on(r)['trained_on']} | {ext_s} | {ext_d} |")
    return "\n".join(lines)


def _pairwise_table(folder: Path, population: str) -> str:
    """Submission vs submission on each task (`pairwise.json`, written by `cxrbench publish`)."""
    files = sorted(folder.rglob(PAIRWISE_FILE))
    if not files:
        return ""
    lines = ["| task | A − B (primary endpoint) | Δ [95% CI] | p | MDE | verdict |", "|---|---|---|---|---|---|"]
    for path in files:
        data = json.loads(path.read_text())
        if data.get("population", "dev") != population or data["task"].endswith("-0"):
            continue  # real-only baselines: every generator's record is the same runs
        for pair in data["pairs"]:
            for raw in pair["comparisons"]:
                c = Comparison.model_validate(raw)
                if c.endpoint == "primary":
                    lines.append(f"| {data['task']} | {pair['a'].split('@')[0]} − {pair['b'].split('@')[0]} | "
                                 f"{delta_ci(c)} | {p_text(c.p_value)} | {num(c.mde)} | {verdict_text(c)} |")
    return "\n".join(lines)


def _audit_table(records: list[ResultRecord]) -> str:
    audits = {r.submission.name: r.audit for r in records if r.audit and "fidelity" in r.audit}
    if not audits:
        return ""
    lines = ["| feature space | generator | Fréchet distance | precision | recall | adherence (macro AUROC) "
             "| memorization flag | leakage flag |", "|---|---|---|---|---|---|---|---|"]
    # by space: a Fréchet distance compares only with others measured in the same space
    for name, a in sorted(audits.items(), key=lambda item: (item[1]["feature_space"], item[0])):
        fid, adh = a["fidelity"], a.get("adherence") or {}
        lines.append(f"| {a['feature_space']} | {name} | {num(fid.get('frechet_distance'), 2)} | {num(fid.get('precision'))} | "
                     f"{num(fid.get('recall'))} | {num(adh.get('macro_auroc'))} | {a['memorization_flag']} | "
                     f"{a['leakage_flag']} |")
    return "\n".join(lines)
