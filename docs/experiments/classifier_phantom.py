"""Train the reference classifier recipe on the phantom and score it internally and externally.

Internal: site-a train / val / test (frozen patient-level split, `cxrbench` scheme). External:
the test splits of site-b and site-c. Macro AUROC is the scorer's (`cxrbench.stats.auroc`:
-1 and blank rows dropped per label); training uses the task's uncertainty policy (`zeros`,
as the phantom tasks say). Prints one JSON line per seed and a summary:

    nice -n 10 .venv/bin/python docs/experiments/classifier_phantom.py --seeds 0 1 2 --threads 1
    nice -n 10 .venv/bin/python docs/experiments/classifier_phantom.py --seeds 0 1 2 --oracle-ratio 300

`--oracle-ratio N` supplements with the phantom renderer itself as an oracle generator (fresh
seeds, the training rows' conditions, replica scheme checked by `supplement`): the upper bound
a generator can reach. `--check-determinism` trains the first seed twice and compares.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from cxrbench.baselines.classifier import from_rows, get_recipe, supplement, train_classifier
from cxrbench.data.phantom import PhantomSource, render
from cxrbench.data.splits import split_rows
from cxrbench.schema import PATHOLOGIES
from cxrbench.stats import auroc


def load(site: str, n_patients: int, size: int, splits: tuple[str, ...]):
    source = PhantomSource(site=site, n_patients=n_patients)
    parts = split_rows(source.rows())
    return {s: from_rows(parts[s], source.load_batch(parts[s], size), PATHOLOGIES) for s in splits}, parts


def oracle_synthetic(train_rows, real, ratio: int, size: int):
    """The phantom renderer as an oracle generator: ratio/100 fresh renders of each training row."""
    import pandas as pd

    replicas = ratio // 100
    rows = pd.concat([train_rows] * replicas, ignore_index=True)
    seeds = np.arange(len(rows), dtype=np.int64) + 10**9  # never the real images' seeds
    images = render(rows, seeds, size)
    return from_rows(rows.assign(image_id=[f"oracle-{i}" for i in range(len(rows))]), images, PATHOLOGIES,
                     condition_ids=np.tile(real.image_ids, replicas))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="quick")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--n-patients", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--uncertainty", default="zeros")
    parser.add_argument("--oracle-ratio", type=int, default=0,
                        help="supplement N%% (a multiple of 100) with phantom renders of the training rows")
    parser.add_argument("--check-determinism", action="store_true",
                        help="train the first seed twice and compare weights and predictions bit for bit")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="recipe overrides (JSON values)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    recipe = get_recipe(args.recipe, image_size=args.size, **overrides)

    started = time.perf_counter()
    internal, internal_rows = load("site-a", args.n_patients, args.size, ("train", "val", "test"))
    evals = {"internal_test": internal["test"]}
    for site in ("site-b", "site-c"):
        evals[f"external:{site}"] = load(site, args.n_patients, args.size, ("test",))[0]["test"]
    train = [internal["train"]]
    if args.oracle_ratio:
        train = supplement(internal["train"], oracle_synthetic(internal_rows["train"], internal["train"],
                                                               args.oracle_ratio, args.size), args.oracle_ratio)
    print(json.dumps({"data_seconds": round(time.perf_counter() - started, 1),
                      "n": {k: len(v) for k, v in {**internal, **evals}.items()},
                      "n_train_parts": [len(p) for p in train],
                      "recipe": recipe.identity(), "overrides": overrides, "threads": args.threads}))
    forbidden = np.concatenate([e.image_ids for e in evals.values()])
    results = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        clf = train_classifier(train, internal["val"], recipe, seed=seed, forbidden_ids=forbidden,
                               progress=False, uncertainty_policy=args.uncertainty)
        train_s = time.perf_counter() - t0
        row = {"seed": seed, "train_seconds": round(train_s, 1), "epochs": clf.info["epochs_run"],
               "best_epoch": clf.info["best_epoch"], "val_auroc": round(clf.info["best_val_macro_auroc"], 4),
               "img_per_s": round(float(np.median([h["train_images_per_s"] for h in clf.info["history"]])), 1)}
        for name, data in evals.items():
            row[name] = round(auroc(data.labels, clf.predict(data)).macro, 4)
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.check_determinism:
        runs = [train_classifier(train, internal["val"], recipe, seed=args.seeds[0],
                                 forbidden_ids=forbidden, progress=False, uncertainty_policy=args.uncertainty)
                for _ in range(2)]
        states = [r.model.state_dict() for r in runs]
        same_weights = all(torch.equal(states[0][k], states[1][k]) for k in states[0])
        same_predictions = all(np.array_equal(runs[0].predict(d), runs[1].predict(d)) for d in evals.values())
        print(json.dumps({"determinism": {"seed": args.seeds[0], "identical_weights": same_weights,
                                          "identical_predictions": same_predictions}}), flush=True)
    keys = list(evals)
    summary = {k: {"mean": round(float(np.mean([r[k] for r in results])), 4),
                   "sd": round(float(np.std([r[k] for r in results], ddof=1)) if len(results) > 1 else 0.0, 4)}
               for k in keys + ["train_seconds"]}
    print(json.dumps({"summary": summary, "seeds": args.seeds}))


if __name__ == "__main__":
    main()
