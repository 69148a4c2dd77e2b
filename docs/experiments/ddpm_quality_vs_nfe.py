"""Quality of the reference DDPM per sampler, step count and guidance scale, measured by the
project's own audit (`cxrbench.audit.audit`) in the phantom's shipped reference feature space.

For each run `sampler:steps[:guidance]`, generate one image per training-split condition row of
the phantom internal site (the conditioning set of `phantom/supplement-100` at the quick budget:
site-a, 1,000 patients, 32 px; seeds 0..N-1), time it, and audit it against that training split:
- Fréchet distance, precision / recall in the reference classifier's 256-d feature space;
- adherence: macro AUROC of the reference classifier's scores against the conditioned labels;
- memorization: share of images nearer a training image than the real-vs-real close threshold
  (reference and pixel space) and the audit's flag.
Leakage is audited against site-a's test split only (the runner also uses the other sites').
The real validation split, audited the same way, gives the floor / ceiling (n differs: FD is
biased upward at small n).

    OMP_NUM_THREADS=1 python docs/experiments/ddpm_quality_vs_nfe.py --weights tiny-32 \
        --runs ddim:200,ddim:10,dpmpp-2m:10,unipc:10 --out docs/ddpm_quality_tiny32.json
    python docs/experiments/ddpm_quality_vs_nfe.py --table docs/ddpm_quality_tiny32.json   # the docs/ddpm.md table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def parse_run(text: str) -> tuple[str, int, float]:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise SystemExit(f"--runs: {text!r} is not sampler:steps[:guidance]")
    return parts[0], int(parts[1]), float(parts[2]) if len(parts) == 3 else 0.0


def summary(report, seconds: float | None = None, n: int | None = None) -> dict:
    """The numbers this study compares, from one audit report."""
    r = report.to_dict()
    f, a, m = r["fidelity"], r["adherence"], r["memorization"]
    row = {"fd": round(f["frechet_distance"], 3), "precision": round(f["precision"], 3),
           "recall": round(f["recall"], 3),
           "adherence_macro": None if a["macro_auroc"] is None else round(a["macro_auroc"], 3),
           "adherence": {k: (None if v["auroc"] is None else round(v["auroc"], 3)) for k, v in a["per_finding"].items()},
           "memorization_flag": r["memorization_flag"], "leakage_flag": r["leakage_flag"],
           "share_close": {s["space"]: round(s["share_close"], 4) for s in m["spaces"]},
           "share_near_duplicate": {s["space"]: round(s["share_near_duplicate"], 4) for s in m["spaces"]}}
    if seconds is not None:
        row |= {"seconds": round(seconds, 1), "images_per_s": round(n / seconds, 1)}
    return row


NAMES = {"ddim": "DDIM", "dpmpp-2m": "DPM-Solver++ 2M", "unipc": "UniPC", "ddpm": "DDPM"}


def table(result: dict) -> str:
    """The markdown table of docs/ddpm.md from one results JSON."""
    def close(row):
        return " / ".join(f"{v:.3f}" for v in row["share_close"].values())

    lines = ["| sampler | steps | guidance | NFE | FD ↓ | precision | recall | adherence ↑ | share close "
             "(reference / pixel) | memorization flag | images/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    val = result["real_val"]
    lines.append(f"| real validation split (n={val['n']}) | – | – | – | {val['fd']:.2f} | {val['precision']:.3f} | "
                 f"{val['recall']:.3f} | {val['adherence_macro']:.3f} | {close(val)} | {val['memorization_flag']} | – |")
    for r in sorted(result["runs"], key=lambda r: (r["guidance"], r["sampler"], r["steps"])):
        lines.append(f"| {NAMES.get(r['sampler'], r['sampler'])} | {r['steps']} | {r['guidance']:g} | {r['nfe']} | "
                     f"{r['fd']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['adherence_macro']:.3f} | "
                     f"{close(r)} | {r['memorization_flag']} | {r['images_per_s']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", default=None, help="print the markdown table of a results JSON and exit")
    ap.add_argument("--weights", default="tiny-32", help="weights folder or shipped preset")
    ap.add_argument("--n", type=int, default=None, help="first N training rows (default: all)")
    ap.add_argument("--n-patients", type=int, default=1000)
    ap.add_argument("--runs", default="dpmpp-2m:10")
    ap.add_argument("--dtype", default="bfloat16", help="the reference submission samples in bf16 on CPU")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON file; runs already in it are kept and skipped")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return
    torch.set_num_threads(args.threads)

    from cxrbench.audit import FeatureCache, RealImages, audit
    from cxrbench.audit.reference import provenance, reference_classifier, reference_extractor
    from cxrbench.baselines.ddpm import ReferenceGenerator
    from cxrbench.baselines.ddpm.conditioning import CONDITION_COLUMNS
    from cxrbench.data.sources import get_source
    from cxrbench.data.splits import split_rows
    from cxrbench.schema import PATHOLOGIES

    size = ReferenceGenerator.from_pretrained(args.weights).image_size
    src = get_source("phantom", site="site-a", n_patients=args.n_patients)
    splits = split_rows(src.rows())
    train, val, test = splits["train"], splits["val"], splits["test"]
    real = RealImages(src.load_batch(train, size), train["patient_id"].astype(str).to_numpy(),
                      train[list(PATHOLOGIES)].reset_index(drop=True))
    test_images = src.load_batch(test, size)
    classifier = reference_classifier()
    extractor = reference_extractor(classifier=classifier)
    cache = FeatureCache()  # real train / test features once for every run

    out = Path(args.out) if args.out else None
    result = json.loads(out.read_text()) if out and out.exists() else {}
    if result.get("weights") not in (None, str(args.weights)):
        raise SystemExit(f"{out}: holds runs of weights {result['weights']!r}, not {args.weights!r}; use another --out")
    result |= {"weights": str(args.weights), "n_patients": args.n_patients, "dtype": args.dtype,
               "threads": args.threads, "feature_space": provenance()["feature_space"],
               "feature_space_sha256": provenance()["weights_sha256"][:12]}
    if "real_val" not in result:
        val_images = src.load_batch(val, size)
        report = audit(val_images, val[list(PATHOLOGIES)].reset_index(drop=True), real, test_images, extractor,
                       classifier, cache=cache)
        result["real_val"] = summary(report) | {"n": len(val)}
    print(f"real val (n={len(val)}): {result['real_val']}", flush=True)

    rows = train.reset_index(drop=True) if args.n is None else train.iloc[: args.n].reset_index(drop=True)
    conditions = rows[list(CONDITION_COLUMNS) + ["site"]]
    seeds = np.arange(len(rows), dtype=np.int64)
    done = {(r["sampler"], r["steps"], r["guidance"]) for r in result.get("runs", []) if r["n"] == len(rows)}
    for sampler, steps, guidance in map(parse_run, args.runs.split(",")):
        if (sampler, steps, guidance) in done:
            continue
        gen = ReferenceGenerator.from_pretrained(args.weights, sampler=sampler, steps=steps, guidance=guidance,
                                                 dtype=args.dtype)
        start = time.perf_counter()
        images = gen.generate(conditions, seeds, size)
        seconds = time.perf_counter() - start
        report = audit(images, rows[list(PATHOLOGIES)], real, test_images, extractor, classifier, cache=cache)
        # network evaluations per image: guidance doubles each step's batch (one batched forward)
        row = {"sampler": sampler, "steps": steps, "guidance": guidance, "nfe": steps * (2 if guidance else 1),
               "n": len(rows)} | summary(report, seconds, len(rows))
        result.setdefault("runs", []).append(row)
        print(f"{sampler:>9}-{steps:<4} w={guidance:g}  {row['images_per_s']:6.1f} img/s  FD {row['fd']:.3f}  "
              f"adherence {row['adherence_macro']:.3f}  close {row['share_close']}  "
              f"memorization {row['memorization_flag']}", flush=True)
        if out:  # after every run: a killed sweep keeps what it measured
            out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
