"""Print result records as Markdown tables (the README's results section is pasted from this).

    python scripts/results_markdown.py runs/            # every record under runs/
"""

from __future__ import annotations

import sys
from pathlib import Path

from cxrbench.results import read_record


def fmt(x, digits=3, sign=False):
    if x is None:
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def p_fmt(p):
    if p is None:
        return "—"
    return f"{p:.3f}" if p >= 0.001 else "<0.001"


def main(folder: str) -> None:
    records = [read_record(p) for p in sorted(Path(folder).rglob("*.json")) if not p.name.startswith(".")]
    records = [r for r in records if r.status == "complete"]
    records.sort(key=lambda r: (r.task.family, r.task.supplement_ratio, r.submission.name))
    print("| task | submission | internal macro AUROC (seed mean ± sd) | Δ internal [95% CI] | p (bootstrap) | p (seeds) "
          "| external macro AUROC | Δ external |")
    print("|---|---|---|---|---|---|---|---|")
    for r in records:
        internal = next(s for s in r.eval_sets if s.eval_set == "internal_test")
        comp = {c.eval_set: c for c in r.comparisons}
        ci = comp.get("internal_test")
        ext = [s for s in r.eval_sets if s.eval_set != "internal_test"]
        ext_s = ", ".join(f"{s.eval_set.split(':')[-1]} {fmt(s.macro_auroc)}" for s in ext)
        ext_d = ", ".join(f"{s.eval_set.split(':')[-1]} {fmt(comp[s.eval_set].delta_macro_auroc, sign=True)}"
                          + ("*" if (comp[s.eval_set].bootstrap_p_value or 1) < 0.05 else "")
                          for s in ext if s.eval_set in comp)
        delta = (f"{fmt(ci.delta_macro_auroc, sign=True)} [{fmt(ci.bootstrap_ci_low, sign=True)}, "
                 f"{fmt(ci.bootstrap_ci_high, sign=True)}]") if ci else "baseline"
        print(f"| {r.task.name} | {r.submission.name} | {fmt(internal.macro_auroc)} ({fmt(internal.seed_mean)} ± "
              f"{fmt(internal.seed_sd)}) | {delta} | {p_fmt(ci.bootstrap_p_value) if ci else ''} | "
              f"{p_fmt(ci.seed_aware_p_value) if ci else ''} | {ext_s} | {ext_d or ''} |")
    audits = {r.submission.name: r.audit for r in records if r.audit and "fidelity" in r.audit}
    if audits:
        print()
        print("| generator | Fréchet distance | precision | recall | adherence (macro AUROC) | memorization flag | leakage flag |")
        print("|---|---|---|---|---|---|---|")
        for name, a in sorted(audits.items()):
            fid, adh = a["fidelity"], a.get("adherence") or {}
            print(f"| {name} | {fmt(fid.get('frechet_distance'), 2)} | {fmt(fid.get('precision'))} | "
                  f"{fmt(fid.get('recall'))} | {fmt(adh.get('macro_auroc'))} | {a['memorization_flag']} | {a['leakage_flag']} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs")
