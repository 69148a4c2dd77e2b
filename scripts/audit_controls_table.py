"""Print the audit controls table of docs/audit.md: the fixture of tests/audit/test_controls.py
(phantom seed 11, 32 px), audited in the shipped reference space and in pixel space.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/audit_controls_table.py
"""
import numpy as np, torch
torch.set_num_threads(1)
from cxrbench.audit import AuditConfig, FeatureCache, RealImages, audit
from cxrbench.audit.phantom_truth import rendered_truth
from cxrbench.audit.reference import reference_classifier, reference_extractor
from cxrbench.data.phantom import PhantomSource, render
from cxrbench.data.splits import split_rows
from cxrbench.schema import PATHOLOGIES
SIZE = 32
CONFIG = AuditConfig(min_per_finding=30)
source = PhantomSource("site-a", n_patients=500, seed=11)
splits = split_rows(source.rows())
train, test = splits["train"], splits["test"]
train_images, test_images = source.load_batch(train, SIZE), source.load_batch(test, SIZE)
conditions = train[["age", "sex", "race", "view", "site", *PATHOLOGIES]].reset_index(drop=True)
seeds = np.arange(len(train), dtype=np.int64) + 10**9
oracle = render(conditions, seeds, SIZE)
shuffled = conditions.sample(frac=1.0, random_state=0).reset_index(drop=True)
controls = {"oracle": oracle, "noise": np.random.default_rng(0).integers(0, 256, train_images.shape, dtype=np.uint8),
            "copy": train_images.copy(), "test-leak": np.resize(test_images, train_images.shape),
            "label-shuffled": render(shuffled, seeds, SIZE)}
real = RealImages(train_images, train["patient_id"].to_numpy(), train[list(PATHOLOGIES)])
classifier = reference_classifier(); extractor = reference_extractor(classifier=classifier)
truth = rendered_truth(conditions, seeds, SIZE, images=oracle)
cache = FeatureCache()
print(f"{len(train_images)} synthetic = training images, {len(test_images)} test images, space {extractor.name if hasattr(extractor,'name') else ''}")
for name, images in controls.items():
    r = audit(images, conditions, real, test_images, extractor, classifier, config=CONFIG, cache=cache,
              truth_labels=truth if name == "oracle" else None).to_dict()
    f, a, m, l = r["fidelity"], r["adherence"], r["memorization"]["spaces"], r["leakage"]["spaces"]
    flags = ", ".join(k for k in ("memorization", "leakage") if r[f"{k}_flag"]) or "—"
    adh = f"{a['macro_auroc']:.3f}" + (f" ({a['truth_macro_auroc']:.3f} vs rendered truth)" if a.get("truth_macro_auroc") else "")
    print(f"| {name} | {f['frechet_distance']:.3f} | {f['precision']:.3f} | {f['recall']:.3f} | {f['coverage']:.3f} | {adh} | "
          f"{m[0]['share_close']:.3f} / {m[1]['share_close']:.3f} | {m[0]['n_near_duplicate']} / {m[1]['n_near_duplicate']} | "
          f"{l[0]['n_near_duplicate']} / {l[1]['n_near_duplicate']} | {flags} |")
    if name in ("oracle", "label-shuffled"):
        cf = r["fidelity"].get("per_finding", {})
        print("   conditional FD:", {k: round(v.get("frechet_distance", float('nan')), 1) for k, v in cf.items() if k in ("No Finding", "Cardiomegaly", "Pleural Effusion")})
        print("   adherence per finding:", {k: round(v["auroc"], 2) for k, v in (a.get("per_finding") or {}).items() if v["auroc"] is not None})
print("space:", r["feature_space"])
