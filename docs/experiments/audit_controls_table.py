"""Print the audit controls table of docs/audit.md: the fixture of tests/audit/test_controls.py
(phantom seed 11, 32 px), audited in the shipped reference space and in pixel space.

    OMP_NUM_THREADS=1 .venv/bin/python docs/experiments/audit_controls_table.py
"""

from __future__ import annotations

import numpy as np
import torch

from cxrbench.audit import AuditConfig, FeatureCache, RealImages, audit
from cxrbench.audit.phantom_truth import rendered_truth
from cxrbench.audit.reference import reference_classifier, reference_extractor
from cxrbench.data.phantom import PhantomSource, render
from cxrbench.data.splits import split_rows
from cxrbench.schema import PATHOLOGIES

SIZE = 32
CONFIG = AuditConfig(min_per_finding=30)


def controls() -> tuple[dict[str, np.ndarray], object, RealImages, np.ndarray, np.ndarray]:
    """The six control image sets, their conditions, the real training set, test images and seeds."""
    source = PhantomSource("site-a", n_patients=500, seed=11)  # a population the extractor never saw
    splits = split_rows(source.rows())
    train, test = splits["train"], splits["test"]
    train_images, test_images = source.load_batch(train, SIZE), source.load_batch(test, SIZE)
    conditions = train[["age", "sex", "race", "view", "site", *PATHOLOGIES]].reset_index(drop=True)
    seeds = np.arange(len(train), dtype=np.int64) + 10**9
    shuffled = conditions.sample(frac=1.0, random_state=0).reset_index(drop=True)
    sets = {
        "oracle": render(conditions, seeds, SIZE),
        "noise": np.random.default_rng(0).integers(0, 256, train_images.shape, dtype=np.uint8),
        "copy": train_images.copy(),
        "test-leak": np.resize(test_images, train_images.shape),
        # the same films one pixel lower (edge row repeated): a leak that plain distances miss
        "test-leak-shifted": np.resize(np.pad(test_images, ((0, 0), (1, 0), (0, 0)), mode="edge")[:, :-1],
                                       train_images.shape),
        "label-shuffled": render(shuffled, seeds, SIZE),
    }
    real = RealImages(train_images, train["patient_id"].to_numpy(), train[list(PATHOLOGIES)])
    return sets, conditions, real, test_images, seeds


def audit_controls() -> dict[str, object]:
    """The audit report of every control set, in the shipped reference space (one feature cache)."""
    sets, conditions, real, test_images, seeds = controls()
    classifier = reference_classifier()
    extractor = reference_extractor(classifier=classifier)
    truth = rendered_truth(conditions, seeds, SIZE, images=sets["oracle"])
    cache = FeatureCache()  # real train / test features computed once for all five controls
    return {name: audit(images, conditions, real, test_images, extractor, classifier, config=CONFIG, cache=cache,
                        truth_labels=truth if name == "oracle" else None)
            for name, images in sets.items()}


def main() -> None:
    torch.set_num_threads(1)
    reports = audit_controls()
    first = reports["oracle"]
    print(f"{first.n_synthetic} synthetic = training images, {first.n_real_test} test images")
    print("| control | FD | precision | recall | coverage | adherence (macro AUROC) | share close f/p "
          "| near-copies f/p | test near-dups f/p/r | flags |")
    for name, report in reports.items():
        r = report.to_dict()
        f, a = r["fidelity"], r["adherence"]
        mem, leak = r["memorization"]["spaces"], r["leakage"]["spaces"]
        flags = ", ".join(k for k in ("memorization", "leakage") if r[f"{k}_flag"]) or "—"
        adherence = f"{a['macro_auroc']:.3f}"
        if a.get("truth_macro_auroc") is not None:
            adherence += f" ({a['truth_macro_auroc']:.3f} vs rendered truth)"
        print(f"| {name} | {f['frechet_distance']:.3f} | {f['precision']:.3f} | {f['recall']:.3f} "
              f"| {f['coverage']:.3f} | {adherence} | {mem[0]['share_close']:.3f} / {mem[1]['share_close']:.3f} "
              f"| {mem[0]['share_near_duplicate']:.3f} / {mem[1]['share_near_duplicate']:.3f} "
              f"| {' / '.join(str(space['n_near_duplicate']) for space in leak)} | {flags} |")
        if name in ("oracle", "label-shuffled"):
            per = f.get("per_finding", {})
            print("   conditional FD:", {k: round(per[k]["frechet_distance"], 1)
                                        for k in ("No Finding", "Cardiomegaly", "Pleural Effusion") if k in per})
            print("   adherence per finding:", {k: round(v["auroc"], 2) for k, v in a["per_finding"].items()
                                               if v["auroc"] is not None})
    print("reference space:", first.feature_space)


if __name__ == "__main__":
    main()
