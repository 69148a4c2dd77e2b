"""Loader-only vs training-step throughput (images/s) of the classifier recipe, per backbone and size.

    nice -n 10 .venv/bin/python docs/experiments/classifier_throughput.py --threads 1

Prints one JSON line per case: loader img/s (gather + scale + resize + augment), step img/s
(forward + backward + optimizer + EMA), and their ratio (> 1 = not input-bound).
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from cxrbench.baselines.classifier import get_recipe
from cxrbench.baselines.classifier.throughput import images_per_second, loader_batch_fn, train_step_fn

CASES = [  # (label, preset, overrides)
    ("quick cxr_tiny 32px", "quick", {}),
    ("quick cxr_tiny 64px", "quick", {"image_size": 64}),
    ("cxr_small 64px", "quick", {"backbone": "cxr_small", "image_size": 64}),
    ("cxr_tiny 256px", "quick", {"image_size": 256, "batch_size": 16}),
    ("resnet50 256px", "standard", {"backbone": "resnet50", "optimizer": "adamw", "lr": 1e-3, "batch_size": 8}),
    ("densenet121 256px", "standard", {"backbone": "densenet121", "optimizer": "adamw", "lr": 1e-3, "batch_size": 8}),
    ("standard convnext_base 256px", "standard", {"batch_size": 8}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--only", nargs="*", help="substrings of case labels to run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for label, preset, overrides in CASES:
        if args.only and not any(s in label for s in args.only):
            continue
        if args.device == "cuda" and preset == "standard":
            overrides = {**overrides, "batch_size": 64}
        recipe = get_recipe(preset, **overrides)
        loader = images_per_second(loader_batch_fn(recipe, n_images=2048, device=args.device), min_seconds=args.seconds)
        step = images_per_second(train_step_fn(recipe, device=args.device), min_seconds=args.seconds, min_calls=2)
        print(json.dumps({"case": label, "device": args.device, "threads": args.threads, "batch": recipe.batch_size,
                          "loader_img_s": round(loader, 1), "step_img_s": round(step, 2),
                          "loader_over_step": round(loader / step, 1), "load_avg_1min": round(os.getloadavg()[0], 1)}),
              flush=True)


if __name__ == "__main__":
    main()
