"""Calibration of the reported comparison by simulation: the table of docs/stats.md.

Runs `cxrbench.calibration.suite` (an independent generative model fed through the runner's own
`compare_on`) over the designs of the table, writes the results as JSON and prints the Markdown.

    python tools/stats_calibration.py run --out docs/experiments/stats_calibration.json
    python tools/stats_calibration.py table docs/experiments/stats_calibration.json

`run` takes hours on one core (`suite.table_reps`: 1,000 null and 500 power repetitions at 1,000
patients, 400 and 250 at 8,000, where 12 seeds per arm take ~2 s a repetition); `--designs
S5-N1000-equal,...` runs some, `--jobs` several at once. The slow test
(tests/calibration/test_calibration_suite.py) runs the same designs with the same seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cxrbench.calibration.suite import GRID, Design, run_design, table_reps


def _one(design: Design, seed: int) -> dict:
    start = time.perf_counter()
    out = run_design(design, **table_reps(design), seed=seed,
                     progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def run(args) -> None:
    wanted = set(filter(None, args.designs.split(",")))
    designs = [d for d in GRID if not wanted or d.key in wanted]
    out_path = Path(args.out)
    results = json.loads(out_path.read_text())["designs"] if out_path.exists() and args.resume else {}
    todo = [d for d in designs if d.key not in results]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {d.key: pool.submit(_one, d, args.seed) for d in todo}
        for key, future in futures.items():
            results[key] = future.result()
            payload = {"made_by": "tools/stats_calibration.py run", "alpha": 0.05, "seed": args.seed,
                       "designs": {d.key: results[d.key] for d in GRID if d.key in results}}
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(payload, indent=1) + "\n")
            print(f"{key}: {results[key]['seconds']} s", file=sys.stderr, flush=True)


def _pct(entry, digits: int = 1) -> str:
    if not entry:
        return "—"
    low, high = entry["interval"]
    return f"{100 * entry['rate']:.{digits}f} % [{100 * low:.1f}, {100 * high:.1f}]"


def table(args) -> None:
    data = json.loads(Path(args.json).read_text())
    print("| seeds per arm | test patients | seed sd, submission : baseline | reps (null / power) | primary "
          "rejects | per label, pooled (max) | Holm family-wise | CI coverage | mean MDE | power at the mean MDE |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for entry in data["designs"].values():
        d, null, power = entry["design"], entry["null"], entry.get("power")
        ratio = "1 : 1" if d["seed_sd_ratio"] == 1 else f"{d['seed_sd_ratio']:g} : 1"
        head = f"| {d['seeds']} | {d['patients']:,} | {ratio} | {null['reps']}"
        if not null["p_reported"]:
            print(f"{head} / — | no p-value, stars or Holm flag in any repetition (verdict "
                  f"{', '.join(null['verdicts'])}: too few seeds) | — | — | — | — | — |")
            continue
        label = f"{_pct(null['per_label_pooled'])} ({100 * null['per_label_max']:.1f} %)"
        print(f"{head} / {power['reps'] if power else '—'} | {_pct(null['rejection'])} | {label} "
              f"| {_pct(null['holm_familywise']) if null['holm_familywise'] else '— (no Holm flags below 5 seeds)'} "
              f"| {_pct(null['ci_coverage'])} | {null['mean_mde']:.4f} | {_pct(power['rejection']) if power else '—'} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="simulate the designs and write their JSON")
    r.add_argument("--out", required=True)
    r.add_argument("--designs", default="", help="comma-separated design keys (default: the whole grid)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--jobs", type=int, default=1)
    r.add_argument("--resume", action="store_true", help="keep the designs already in --out")
    t = sub.add_parser("table", help="print the Markdown table of docs/stats.md")
    t.add_argument("json")
    args = parser.parse_args(argv)
    {"run": run, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
