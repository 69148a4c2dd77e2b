"""Train the audit's reference feature extractor and write it under benchmark/cxrbench/audit/weights/.

The audit's fixed feature space is the penultimate layer of the reference classifier recipe
(`cxrbench.baselines.classifier`, backbone `cxr_small`, 256 features) trained on the phantom
profile's real training split (site-a, `cxrbench` patient-hash split) and nothing else: no
validation-split image is trained on (it only picks the epoch) and no test-split image is seen.

    .venv/bin/python tools/train_audit_features.py            # the shipped weights
    .venv/bin/python tools/train_audit_features.py --help

Deterministic for a given torch build on a CPU. Writes model.safetensors + config.json (the
classifier's own format) and provenance.json (data, split sizes, validation / internal-test
macro AUROC, sha256 of the weights). Bump `--version` whenever the output changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmark" / "cxrbench" / "audit" / "weights" / "phantom-site-a"
#: The recipe of the shipped weights, pinned field by field: the classifier presets evolve, the
#: audit's feature space must not (this is `quick` v1 as it was: cxr_small, 256 features).
AUDIT_RECIPE = dict(
    name="quick", version="1", backbone="cxr_small", image_size=32, batch_size=64, max_epochs=12, patience=4,
    optimizer="adamw", lr=3e-3, weight_decay=0.05, schedule="cosine", warmup_epochs=0.5, ema_decay=0.99,
    hflip_p=0.0, rotate_deg=5.0, translate_frac=0.04, scale_range=0.05, noise_std=0.02, mixup_alpha=0.0,
    label_smoothing=0.0,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=4000)
    parser.add_argument("--size", type=int, default=AUDIT_RECIPE["image_size"], help="image size it is trained at")
    parser.add_argument("--max-epochs", type=int, default=AUDIT_RECIPE["max_epochs"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--version", default="1", help="feature-space version; bump when the output changes")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from cxrbench.baselines.classifier import LabeledImages, train_classifier
    from cxrbench.baselines.classifier.recipe import recipe_from_dict
    from cxrbench.data.phantom import PhantomSource
    from cxrbench.data.splits import split_rows
    from cxrbench.schema import PATHOLOGIES
    from cxrbench.stats import auroc

    source = PhantomSource("site-a", n_patients=args.n_patients, seed=0)
    splits = split_rows(source.rows())

    def labeled(rows):
        return LabeledImages(images=source.load_batch(rows, args.size), labels=rows[list(PATHOLOGIES)].to_numpy(),
                             image_ids=rows["image_id"].to_numpy(), label_names=PATHOLOGIES,
                             patient_ids=rows["patient_id"].to_numpy())

    start = time.perf_counter()
    train, val = labeled(splits["train"]), labeled(splits["val"])
    recipe = recipe_from_dict({**AUDIT_RECIPE, "image_size": args.size, "max_epochs": args.max_epochs})
    classifier = train_classifier(train, val, recipe, seed=args.seed, forbidden_ids=splits["test"]["image_id"].to_numpy(),
                                  progress=False, uncertainty_policy="zeros")
    train_s = time.perf_counter() - start
    test = labeled(splits["test"])
    val_auroc = auroc(val.labels, classifier.predict(val.images), labels=list(PATHOLOGIES))
    test_auroc = auroc(test.labels, classifier.predict(test.images), labels=list(PATHOLOGIES))

    classifier.save(args.out)
    weights = (args.out / "model.safetensors").read_bytes()
    provenance = {
        "feature_space": "phantom-site-a",
        "version": args.version,
        "script": "tools/train_audit_features.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": {"source": "phantom", "site": "site-a", "n_patients": args.n_patients, "phantom_seed": 0,
                 "split_scheme": "cxrbench", "trained_on": "train", "early_stopping_on": "val",
                 "n_train": len(train), "n_val": len(val), "n_test": len(test), "image_size": args.size},
        "recipe": recipe.identity(),
        "seed": args.seed,
        "feature_dim": int(classifier.features(val.images[:2]).shape[1]),
        "val_macro_auroc": round(float(val_auroc.macro), 4),
        "internal_test_macro_auroc": round(float(test_auroc.macro), 4),
        "train_seconds": round(train_s, 1),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "torch": torch.__version__,
        "git_commit": _git_commit(),
        "platform": platform.platform(),
    }
    (args.out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(provenance, indent=2))
    print(f"weights: {len(weights) / 2**20:.2f} MiB at {args.out}")
    return 0


def _git_commit() -> str | None:
    """HEAD of the checkout, '+dirty' when the classifier code differs from it (it shapes the weights)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "baselines/cxrbench/baselines/classifier", "benchmark/cxrbench/data"],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


if __name__ == "__main__":
    raise SystemExit(main())
