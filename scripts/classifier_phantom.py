"""Train the reference classifier recipe on the phantom and score it internally and externally.

Internal: site-a train / val / test (frozen patient-level split, `cxrbench` scheme). External:
the test splits of site-b and site-c. Macro AUROC is the scorer's (`cxrbench.stats.auroc`:
-1 and blank rows dropped per label); training uses the task's uncertainty policy (`zeros`,
as the phantom tasks say). Prints one JSON line per seed and a summary:

    nice -n 10 .venv/bin/python scripts/classifier_phantom.py --seeds 0 1 2 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from cxrbench.baselines.classifier import from_rows, get_recipe, train_classifier
from cxrbench.data.phantom import PhantomSource
from cxrbench.data.splits import split_rows
from cxrbench.schema import PATHOLOGIES
from cxrbench.stats import auroc


def load(site: str, n_patients: int, size: int, splits: tuple[str, ...]):
    source = PhantomSource(site=site, n_patients=n_patients)
    parts = split_rows(source.rows())
    return {s: from_rows(parts[s], source.load_batch(parts[s], size), PATHOLOGIES) for s in splits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="quick")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--n-patients", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--uncertainty", default="zeros")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="recipe overrides (JSON values)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    recipe = get_recipe(args.recipe, image_size=args.size, **overrides)

    started = time.perf_counter()
    internal = load("site-a", args.n_patients, args.size, ("train", "val", "test"))
    evals = {"internal_test": internal["test"]}
    for site in ("site-b", "site-c"):
        evals[f"external:{site}"] = load(site, args.n_patients, args.size, ("test",))["test"]
    print(json.dumps({"data_seconds": round(time.perf_counter() - started, 1),
                      "n": {k: len(v) for k, v in {**internal, **evals}.items()},
                      "recipe": recipe.identity(), "overrides": overrides, "threads": args.threads}))
    forbidden = np.concatenate([e.image_ids for e in evals.values()])
    results = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        clf = train_classifier(internal["train"], internal["val"], recipe, seed=seed, forbidden_ids=forbidden,
                               progress=False, uncertainty_policy=args.uncertainty)
        train_s = time.perf_counter() - t0
        row = {"seed": seed, "train_seconds": round(train_s, 1), "epochs": clf.info["epochs_run"],
               "best_epoch": clf.info["best_epoch"], "val_auroc": round(clf.info["best_val_macro_auroc"], 4),
               "img_per_s": round(float(np.median([h["train_images_per_s"] for h in clf.info["history"]])), 1)}
        for name, data in evals.items():
            row[name] = round(auroc(data.labels, clf.predict(data)).macro, 4)
        results.append(row)
        print(json.dumps(row), flush=True)
    keys = list(evals)
    summary = {k: {"mean": round(float(np.mean([r[k] for r in results])), 4),
                   "sd": round(float(np.std([r[k] for r in results], ddof=1)) if len(results) > 1 else 0.0, 4)}
               for k in keys + ["train_seconds"]}
    print(json.dumps({"summary": summary, "seeds": args.seeds}))


if __name__ == "__main__":
    main()
