"""Quality of the reference DDPM against the number of network evaluations, per sampler.

For each (sampler, steps): generate images for the first N training-split condition rows of the
phantom internal site, time it, and measure
- Fréchet distance (cxrbench.audit.fidelity.frechet_distance) to the real training images in a
  fixed feature space: `PixelExtractor(side=8)` (64-d, per-image standardised pixels);
- per-finding adherence: a fixed linear probe (logistic regression on PixelExtractor(16)
  features, fitted on the real training images) scores each synthetic image; AUROC of its score
  against the label the image was conditioned on (cxrbench.audit.adherence). The same probe on
  the real validation images gives the ceiling.
The real validation split's FD to the training split is printed as the floor.

    python scripts/ddpm_quality_vs_nfe.py --weights baselines/weights/tiny-32 --n 512 \
        --runs ddim:10,ddim:25,ddim:50,dpmpp-2m:5,dpmpp-2m:10,dpmpp-2m:20,unipc:5,unipc:10 --out docs/ddpm_quality_tiny32.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="tiny-32")
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--n-patients", type=int, default=1000)
    ap.add_argument("--runs", default="dpmpp-2m:10,dpmpp-2m:20,ddim:50")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from sklearn.linear_model import LogisticRegression

    from cxrbench.audit.adherence import auroc_per_finding, macro
    from cxrbench.audit.features import PixelExtractor
    from cxrbench.audit.fidelity import frechet_distance
    from cxrbench.baselines.ddpm import ReferenceGenerator
    from cxrbench.baselines.ddpm.conditioning import CONDITION_COLUMNS
    from cxrbench.data.sources import get_source
    from cxrbench.data.splits import split_rows
    from cxrbench.schema import PATHOLOGIES

    probe_gen = ReferenceGenerator.from_pretrained(args.weights)
    size = probe_gen.image_size
    src = get_source("phantom", site="site-a", n_patients=args.n_patients)
    splits = split_rows(src.rows())
    train, val = splits["train"], splits["val"]
    real_train, real_val = src.load_batch(train, size), src.load_batch(val, size)
    fd_space, probe_space = PixelExtractor(side=8), PixelExtractor(side=16)
    train_fd_feats = fd_space(real_train)

    # the fixed probe: one logistic regression per finding with both classes present
    x_train = probe_space(real_train)
    targets = np.nan_to_num(train[list(PATHOLOGIES)].to_numpy(np.float64))  # blank → negative
    probes = {}
    for j, name in enumerate(PATHOLOGIES):
        y = targets[:, j] == 1
        if 10 <= y.sum() <= len(y) - 10:
            probes[name] = LogisticRegression(max_iter=2000, C=1.0).fit(x_train, y)

    def adherence(images, labels_frame):
        feats = probe_space(images)
        names = list(probes)
        probs = np.stack([probes[n].predict_proba(feats)[:, 1] for n in names], axis=1)
        per = auroc_per_finding(probs, labels_frame[names].to_numpy(np.float64), names)
        return macro(per), {k: (None if v.auroc is None else round(v.auroc, 3)) for k, v in per.items()}

    floor = frechet_distance(train_fd_feats, fd_space(real_val))
    ceiling_macro, ceiling = adherence(real_val, val)
    result = {"weights": str(args.weights), "n": args.n, "threads": args.threads,
              "feature_space_fd": fd_space.name, "probe_space": probe_space.name,
              "real_val_vs_train": {"fd": round(floor, 4), "adherence_macro": round(ceiling_macro, 3),
                                    "adherence": ceiling, "n": len(val)},
              "runs": []}
    print(f"real val vs train: FD {floor:.4f}, probe macro AUROC {ceiling_macro:.3f} (n={len(val)})", flush=True)
    conditions = train[list(CONDITION_COLUMNS) + ["site"]].iloc[: args.n].reset_index(drop=True)
    seeds = np.arange(args.n, dtype=np.int64)
    for run in args.runs.split(","):
        sampler, steps = run.split(":")
        gen = ReferenceGenerator.from_pretrained(args.weights, sampler=sampler, steps=int(steps))
        start = time.perf_counter()
        images = gen.generate(conditions, seeds, size)
        seconds = time.perf_counter() - start
        fd = frechet_distance(train_fd_feats, fd_space(images))
        adh_macro, adh = adherence(images, conditions)
        row = {"sampler": sampler, "steps": int(steps), "nfe": int(steps), "seconds": round(seconds, 1),
               "images_per_s": round(args.n / seconds, 1), "fd": round(fd, 4),
               "adherence_macro": round(adh_macro, 3), "adherence": adh}
        result["runs"].append(row)
        print(f"{sampler:>9}-{steps:<4} {row['images_per_s']:7.1f} img/s  FD {fd:.4f}  adherence {adh_macro:.3f}",
              flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
