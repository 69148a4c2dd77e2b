"""Measure the phantom's difficulty: learning curve on site-a and the loss on external sites.

Trains the reference classifier recipe (`cxrbench.baselines.classifier`, preset `quick` at the
chosen image size) on 500 / 1k / 2k / 5k / 10k real phantom images of the internal site and
scores macro AUROC (sklearn, 14 labels, uncertain labels dropped per label, blank = negative)
on held-out patients of site-a (internal) and of site-b and site-c (external). Writes the plot
and the numbers:

    nice -n 10 .venv/bin/python docs/experiments/phantom_learning_curve.py \
        --out docs/img/phantom_learning_curve.png

Patients are disjoint between training, validation and test sets (split by patient number).
The preset is used with these overrides: image size, 12 epochs of one full pass each
(`epoch_images=None`, so more data means more distinct images seen) and no early stop (the best
validation epoch is kept).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from cxrbench.baselines.classifier import LabeledImages, get_recipe, train_classifier
from cxrbench.data.phantom import PhantomSource
from cxrbench.schema import PATHOLOGIES

REPO = Path(__file__).resolve().parents[2]


def macro_auroc(labels: np.ndarray, scores: np.ndarray) -> tuple[float, dict[str, float]]:
    """sklearn AUROC per label (-1 dropped, NaN = negative), macro over labels with both classes."""
    per = {}
    for j, name in enumerate(PATHOLOGIES):
        keep = labels[:, j] != -1
        y = (labels[keep, j] == 1).astype(int)
        if 0 < y.sum() < len(y):
            per[name] = float(roc_auc_score(y, scores[keep, j]))
    return float(np.mean(list(per.values()))), per


def labeled(source: PhantomSource, rows: pd.DataFrame, size: int) -> LabeledImages:
    return LabeledImages(
        images=source.load_batch(rows, size),
        labels=rows[list(PATHOLOGIES)].to_numpy(dtype=np.float32),
        image_ids=rows["image_id"].to_numpy(),
        label_names=PATHOLOGIES,
        patient_ids=rows["patient_id"].to_numpy(),
    )


def patient_slice(rows: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    number = rows["patient_id"].str[-6:].astype(int)
    return rows[(number >= first) & (number < last)].reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,1000,2000,5000,10000")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--recipe", default="quick")
    parser.add_argument("--seeds", default="0", help="classifier training seeds, comma-separated")
    parser.add_argument("--epochs", type=int, default=12, help="max_epochs (each a full pass over the training set)")
    parser.add_argument("--as-preset", action="store_true",
                        help="use the preset exactly (its epochs, epoch_images and patience) apart from the image size")
    parser.add_argument("--patience", type=int, default=None,
                        help="override the recipe's early-stopping patience (default: run all epochs; "
                        "the best validation epoch is kept either way)")
    parser.add_argument("--test-patients", type=int, default=1200, help="test patients per site")
    parser.add_argument("--val-patients", type=int, default=300)
    parser.add_argument("--conspicuity", type=float, default=None, help="override (tuning only)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "phantom_learning_curve.png")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="only merge these result JSONs (runs of different sizes) into --out and its JSON")
    args = parser.parse_args()
    if args.merge:
        merge(args.merge, args.out)
        return
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    # With CheXpert-like prevalences the validation macro AUROC is noisy (rare labels have a few
    # dozen positives): the curve trains every epoch and keeps the best validation epoch.
    # The preset's fixed image budget per epoch (epoch_images) is lifted so that more data means
    # more distinct images seen: the curve measures the data, not the budget.
    overrides = dict(image_size=args.image_size, max_epochs=args.epochs, epoch_images=None,
                     patience=args.patience or args.epochs)
    if args.as_preset:
        overrides = dict(image_size=args.image_size)
    recipe = get_recipe(args.recipe, **overrides)
    if args.conspicuity is not None:
        import importlib

        original = importlib.import_module("cxrbench.data.phantom.render").render

        def render_with(conditions, seeds_, size, **kw):
            return original(conditions, seeds_, size, **{**kw, "conspicuity": args.conspicuity})

        importlib.import_module("cxrbench.data.phantom.source").render = render_with

    # Patients 0..T-1 are test, T..T+V-1 validation, the rest the training pool (site-a).
    t0 = time.time()
    n_test, n_val = args.test_patients, args.val_patients
    pool_patients = int(max(sizes) / 2.6) + 400  # ~2.7 studies per patient
    internal = PhantomSource("site-a", n_patients=n_test + n_val + pool_patients, seed=0)
    rows_a = internal.rows()
    test_rows = {"site-a": patient_slice(rows_a, 0, n_test)}
    val = labeled(internal, patient_slice(rows_a, n_test, n_test + n_val), args.image_size)
    pool = patient_slice(rows_a, n_test + n_val, 10**9)
    if len(pool) < max(sizes):
        raise SystemExit(f"training pool has {len(pool)} images < {max(sizes)}")
    tests = {"site-a": labeled(internal, test_rows["site-a"], args.image_size)}
    for site in ("site-b", "site-c"):
        src = PhantomSource(site, n_patients=n_test, seed=0)
        tests[site] = labeled(src, src.rows(), args.image_size)
    print(f"rendered eval sets in {time.time() - t0:.1f}s: val {len(val)}, "
          + ", ".join(f"{k} {len(v)}" for k, v in tests.items()), flush=True)

    results = []
    for n in sizes:
        train_rows = pool.iloc[:n]
        t1 = time.time()
        train = labeled(internal, train_rows, args.image_size)
        t_render = time.time() - t1
        for seed in seeds:
            t2 = time.time()
            clf = train_classifier(train, val, recipe, seed=seed, progress=False)
            t_train = time.time() - t2
            row = {"n_train": n, "seed": seed, "render_s": round(t_render, 1), "train_s": round(t_train, 1),
                   "epochs_run": getattr(clf, "info", {}).get("epochs_run")}
            for site, test in tests.items():
                macro, per = macro_auroc(test.labels, clf.predict(test.images))
                row[site] = round(macro, 4)
                row[f"{site}_per_label"] = {k: round(v, 4) for k, v in per.items()}
            results.append(row)
            write_outputs(args, recipe, tests, val, results)  # after every run: partial curves survive
            print(f"n={n:6d} seed={seed} site-a {row['site-a']:.3f} site-b {row['site-b']:.3f} "
                  f"site-c {row['site-c']:.3f}  (render {t_render:.0f}s, train {t_train:.0f}s)", flush=True)

    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


def write_outputs(args, recipe, tests, val, results) -> None:
    summary = {
        "command": "docs/experiments/phantom_learning_curve.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out",)),
        "recipe": {**recipe.identity(), "backbone": recipe.backbone, "max_epochs": recipe.max_epochs,
                   "epoch_images": recipe.epoch_images, "patience": recipe.patience},
        "image_size": args.image_size,
        "test_images": {k: len(v) for k, v in tests.items()}, "val_images": len(val),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(results, args.out, args.image_size, recipe.name)


def merge(paths: list[Path], out: Path) -> None:
    """One plot and JSON from several runs with the same settings (e.g. run in parallel by size)."""
    runs = [json.loads(p.read_text()) for p in paths]
    keys = ("recipe", "image_size", "test_images", "val_images")
    if any(r[k] != runs[0][k] for r in runs for k in keys):
        raise SystemExit(f"runs differ in {keys}; cannot merge")
    merged = {**{k: runs[0][k] for k in keys}, "commands": [r["command"] for r in runs],
              "results": sorted((row for r in runs for row in r["results"]), key=lambda row: (row["n_train"], row["seed"]))}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(merged, indent=1) + "\n")
    plot(merged["results"], out, merged["image_size"], merged["recipe"]["name"])
    print(f"merged {len(paths)} runs into {out} and {out.with_suffix('.json')}")


def plot(results: list[dict], out: Path, image_size: int, recipe_name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(results)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for site, style in (("site-a", "o-"), ("site-b", "s--"), ("site-c", "^--")):
        g = df.groupby("n_train")[site]
        ax.errorbar(g.mean().index, g.mean().values, yerr=g.std().fillna(0).values, fmt=style, capsize=3,
                    label=f"{site} ({'internal' if site == 'site-a' else 'external'})")
    ax.set_xscale("log")
    ax.set_xlabel("real phantom training images (site-a)")
    ax.set_ylabel("macro AUROC (14 labels)")
    ax.set_title(f"Phantom difficulty: '{recipe_name}' recipe, 12 full epochs, {image_size} px", fontsize=10)
    ax.axhspan(0.70, 0.85, color="0.9", zorder=0, label="where real CheXpert classifiers sit (0.70-0.85)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
