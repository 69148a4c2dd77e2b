"""Take the external-site gap apart: train once on site-a, score site-b / site-c re-rendered with
one acquisition setting changed at a time.

The classifier (reference recipe `quick` at 64 px, 12 full epochs, as in
`docs/experiments/phantom_learning_curve.py`) sees site-a only, so changing how an external site is drawn
needs no retraining: each variant re-renders the same test patients (same rows, same seeds) with a
modified `Site` and scores macro AUROC on them.

    .venv/bin/python docs/experiments/phantom_site_shift.py --n-train 5000 --out site_shift.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phantom_learning_curve import labeled, macro_auroc, patient_slice  # noqa: E402

from cxrbench.baselines.classifier import get_recipe, train_classifier  # noqa: E402
from cxrbench.data.phantom import PhantomSource, acquisition  # noqa: E402
from cxrbench.data.phantom import sites as S  # noqa: E402


def variants() -> dict[str, S.Site]:
    a, b, c = S.SITES["site-a"], S.SITES["site-b"], S.SITES["site-c"]
    R = dataclasses.replace
    look_a = {k: getattr(a, k) for k in ("gamma", "sigmoid_gain", "window", "exposure_jitter", "noise", "blur",
                                         "unsharp", "collimation", "border_value", "marker", "marker_corner")}
    return {
        "site-b": b, "site-b | site-a look": R(b, **look_a),
        "site-c": c, "site-c | site-a look": R(c, **look_a),
        "site-c | no edge enhancement": R(c, unsharp=0.0),
        "site-c | edge enhancement 0.6": R(c, unsharp=0.6),
        "site-c | linear curve": R(c, gamma=1.0, window=a.window),
        "site-c | black shutters": R(c, border_value=0.0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--test-patients", type=int, default=1200)
    ap.add_argument("--out", type=Path, default=Path("site_shift.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    recipe = get_recipe("quick", image_size=64, max_epochs=12, epoch_images=None, patience=12)
    n_test, n_val = args.test_patients, 300
    internal = PhantomSource("site-a", n_patients=n_test + n_val + int(args.n_train / 2.6) + 400, seed=0)
    rows = internal.rows()
    val = labeled(internal, patient_slice(rows, n_test, n_test + n_val), 64)
    train = labeled(internal, patient_slice(rows, n_test + n_val, 10**9).iloc[:args.n_train], 64)
    test_a = labeled(internal, patient_slice(rows, 0, n_test), 64)
    t = time.time()
    clf = train_classifier(train, val, recipe, seed=0, progress=False)
    result = {"n_train": len(train), "train_s": round(time.time() - t, 1),
              "site-a": round(macro_auroc(test_a.labels, clf.predict(test_a.images))[0], 4)}
    print(f"site-a (internal) {result['site-a']:.3f}", flush=True)
    original = dict(S.SITES)
    try:
        for name, site in variants().items():
            S.SITES[site.name] = site
            acquisition.contrast_lut.cache_clear()  # both are cached by site name
            acquisition.marker_mask.cache_clear()
            src = PhantomSource(site.name, n_patients=n_test, seed=0)
            test = labeled(src, src.rows(), 64)
            result[name] = round(macro_auroc(test.labels, clf.predict(test.images))[0], 4)
            print(f"{name:32s} {result[name]:.3f}  (gap {result['site-a'] - result[name]:+.3f})", flush=True)
    finally:
        S.SITES.update(original)
        acquisition.contrast_lut.cache_clear()
        acquisition.marker_mask.cache_clear()
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
