"""Print result records as Markdown tables (the README's results section is pasted from this).

    python scripts/results_markdown.py runs/                    # every dev record under runs/
    python scripts/results_markdown.py runs/ held-out:<key>     # the held-out records of one key
"""

from __future__ import annotations

import sys
from pathlib import Path

from cxrbench.results import read_record


def main(folder: str, population: str = "dev") -> None:
    """The records of one eval population (`dev`, or `held-out:<key fingerprint>`): never two mixed."""
    from cxrbench.leaderboard.standing import population_of
    from cxrbench.leaderboard.store import record_files
    from cxrbench.presentation import (delta_ci, delta_short, macro_text, num, p_text, primary, site_name, trained_on,
                                       verdict_text)

    records = [read_record(p) for p in record_files(Path(folder))]
    records = [r for r in records if r.status == "complete" and population_of(r) == population]
    records.sort(key=lambda r: (r.task.family, r.task.supplement_ratio, r.submission.name))
    print("| task | submission | internal macro AUROC (seed mean ± sd) | Δ primary [95% CI] | p | MDE | verdict "
          "| generator trained on | external macro AUROC | Δ external |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in records:
        comp = primary(r.comparisons)
        scores = {s.eval_set: s for s in r.eval_sets}
        internal = scores["internal_test"]
        ext_s = ", ".join(f"{site_name(n)} {num(s.macro_auroc)}" for n, s in scores.items() if n != "internal_test")
        ext_d = ", ".join(f"{site_name(c.eval_set)} {delta_short(c)}" for c in r.comparisons if c.endpoint != "primary")
        cells = ([delta_ci(comp), p_text(comp.p_value), num(comp.mde), verdict_text(comp)] if comp
                 else ["baseline", "", "", ""])
        print(f"| {r.task.name} | {r.submission.name} | {macro_text(internal)} | " + " | ".join(cells)
              + f" | {trained_on(r)['trained_on']} | {ext_s} | {ext_d} |")
    pairwise_tables(Path(folder), population)
    audits = {r.submission.name: r.audit for r in records if r.audit and "fidelity" in r.audit}
    if audits:
        print()
        print("| feature space | generator | Fréchet distance | precision | recall | adherence (macro AUROC) "
              "| memorization flag | leakage flag |")
        print("|---|---|---|---|---|---|---|---|")
        # by space: a Fréchet distance compares only with others measured in the same space
        for name, a in sorted(audits.items(), key=lambda item: (item[1]["feature_space"], item[0])):
            fid, adh = a["fidelity"], a.get("adherence") or {}
            print(f"| {a['feature_space']} | {name} | {num(fid.get('frechet_distance'), 2)} | {num(fid.get('precision'))} | "
                  f"{num(fid.get('recall'))} | {num(adh.get('macro_auroc'))} | {a['memorization_flag']} | "
                  f"{a['leakage_flag']} |")


def pairwise_tables(folder: Path, population: str = "dev") -> None:
    """Submission vs submission on each task (`pairwise.json`, written by `cxrbench publish`)."""
    import json

    from cxrbench.presentation import delta_ci, num, p_text, verdict_text
    from cxrbench.results import Comparison

    files = sorted(folder.rglob("pairwise.json"))
    if not files:
        return
    print()
    print("| task | A − B (primary endpoint) | Δ [95% CI] | p | MDE | verdict |")
    print("|---|---|---|---|---|---|")
    for path in files:
        data = json.loads(path.read_text())
        if data.get("population", "dev") != population or data["task"].endswith("-0"):
            continue  # real-only baselines: every generator's record is the same runs
        for pair in data["pairs"]:
            for raw in pair["comparisons"]:
                c = Comparison.model_validate(raw)
                if c.endpoint != "primary":
                    continue
                print(f"| {data['task']} | {pair['a'].split('@')[0]} − {pair['b'].split('@')[0]} | {delta_ci(c)} | "
                      f"{p_text(c.p_value)} | {num(c.mde)} | {verdict_text(c)} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs", *sys.argv[2:3])
