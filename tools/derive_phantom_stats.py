"""Derive the phantom's label and demographic figures from the real CheXpert train metadata.

Reads `../shared/data/metadata/chexpert_train.csv.gz` (CheXpert's train.csv: Path, Sex, Age,
Frontal/Lateral, AP/PA + 14 labels) and writes the small table of figures the phantom samples
from, `benchmark/cxrbench/data/phantom/chexpert_stats.json`. Only aggregate figures are written (pattern
counts, rates, histograms); no row of the source file is copied. Run:

    .venv/bin/python tools/derive_phantom_stats.py [--csv PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.schema import PATHOLOGIES

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "metadata" / "chexpert_train.csv.gz"
DEFAULT_OUT = REPO / "benchmark" / "cxrbench" / "data" / "phantom" / "chexpert_stats.json"
MIN_PATTERN_COUNT = 2  # singletons (0.2 % of frontal images) are dropped: they would identify nothing but add rows
MAX_STUDIES = 20  # histogram of studies per patient; the tail is merged into the last bin
AGE_MIN, AGE_MAX = 18, 90  # CheXpert codes ages > 89 as 90; the handful of ages < 18 are clipped


def positive_bitmask(labels: np.ndarray) -> np.ndarray:
    """One integer per image: bit j set when label j (PATHOLOGIES order) is 1."""
    return ((labels == 1).astype(np.int64) << np.arange(labels.shape[1])).sum(axis=1)


def other_positive_bucket(labels: np.ndarray) -> np.ndarray:
    """Context of the non-positive label states: 0 = No Finding, 1/2/3/4 = 0/1/2/3+ other positives."""
    n_pos = (labels[:, 1:] == 1).sum(axis=1)
    return np.where(labels[:, 0] == 1, 0, 1 + np.minimum(n_pos, 3))


def derive(csv: Path) -> dict:
    df = pd.read_csv(csv)
    frontal = df[df["Frontal/Lateral"] == "Frontal"].copy()
    frontal = frontal[frontal["AP/PA"].isin(["AP", "PA"])]
    frontal["patient"] = frontal["Path"].str.split("/").str[2]
    frontal["study"] = frontal["Path"].str.split("/").str[3]
    labels = frontal[list(PATHOLOGIES)].to_numpy(dtype=float)
    views = frontal["AP/PA"].to_numpy()
    out: dict = {
        "source": "CheXpert v1.0 train.csv (frontal images, AP or PA)",
        "source_sha256": hashlib.sha256(csv.read_bytes()).hexdigest(),
        "n_frontal_images": int(len(frontal)),
        "n_patients": int(frontal["patient"].nunique()),
        "labels": list(PATHOLOGIES),
        "views": ["AP", "PA"],
        "view_fraction": {v: float((views == v).mean()) for v in ("AP", "PA")},
    }

    # Marginal rates (for tests and documentation): P(1), P(-1), P(0), P(blank) per label and view.
    out["label_rates"] = {}
    for v in ("AP", "PA"):
        lv = labels[views == v]
        out["label_rates"][v] = {
            name: {"pos": float((lv[:, j] == 1).mean()), "unc": float((lv[:, j] == -1).mean()),
                   "neg": float((lv[:, j] == 0).mean()), "blank": float(np.isnan(lv[:, j]).mean())}
            for j, name in enumerate(PATHOLOGIES)
        }

    # Co-occurrence: the table of positive-label patterns with their frequencies, per view.
    masks = positive_bitmask(labels)
    table = pd.DataFrame({"mask": masks, "view": views}).value_counts().unstack(fill_value=0)
    table = table.reindex(columns=["AP", "PA"], fill_value=0)
    kept = table[table.sum(axis=1) >= MIN_PATTERN_COUNT].sort_values("AP", ascending=False)
    out["pattern_min_count"] = MIN_PATTERN_COUNT
    out["pattern_coverage"] = float(kept.to_numpy().sum() / len(frontal))
    out["patterns"] = [[int(m), int(r["AP"]), int(r["PA"])] for m, r in kept.iterrows()]

    # Uncertainty: state of each non-positive label (-1 / 0 / blank), per view and context bucket.
    bucket = other_positive_bucket(labels)
    out["nonpositive_state_buckets"] = ["no_finding", "0_other_pos", "1_other_pos", "2_other_pos", "3plus_other_pos"]
    out["nonpositive_state"] = {}
    for v in ("AP", "PA"):
        per_bucket = []
        for b in range(5):
            lv = labels[(views == v) & (bucket == b)]
            rows = []
            for j in range(len(PATHOLOGIES)):
                col = lv[:, j][lv[:, j] != 1]
                n = max(len(col), 1)
                rows.append([float((col == -1).sum() / n), float((col == 0).sum() / n),
                             float(np.isnan(col).sum() / n)])
            per_bucket.append(rows)
        out["nonpositive_state"][v] = per_bucket

    # Demographics: sex fraction and age histogram per view and sex.
    sex = frontal["Sex"].map({"Female": "F", "Male": "M"}).to_numpy()
    age = np.clip(frontal["Age"].to_numpy(), AGE_MIN, AGE_MAX).astype(int)
    out["age_range"] = [AGE_MIN, AGE_MAX]
    out["female_fraction"] = {v: float((sex[views == v] == "F").sum() / np.isin(sex[views == v], ["F", "M"]).sum())
                              for v in ("AP", "PA")}
    out["age_histogram"] = {
        v: {s: np.bincount(age[(views == v) & (sex == s)] - AGE_MIN, minlength=AGE_MAX - AGE_MIN + 1).tolist()
            for s in ("F", "M")}
        for v in ("AP", "PA")
    }

    # Patients: studies (with a frontal image) per patient, and how often a follow-up repeats.
    studies = frontal.drop_duplicates(["patient", "study"]).copy()
    studies["study_no"] = studies["study"].str.replace("study", "").astype(int)
    studies = studies.sort_values(["patient", "study_no"])
    per_patient = studies.groupby("patient").size().to_numpy()
    out["studies_per_patient_histogram"] = np.bincount(np.minimum(per_patient, MAX_STUDIES), minlength=MAX_STUDIES + 1)[1:].tolist()
    smask = positive_bitmask(studies[list(PATHOLOGIES)].to_numpy(dtype=float))
    same_patient = studies["patient"].to_numpy()[1:] == studies["patient"].to_numpy()[:-1]
    out["followup_same_pattern"] = float((smask[1:] == smask[:-1])[same_patient].mean())
    sview = studies["AP/PA"].to_numpy()
    out["followup_same_view"] = float((sview[1:] == sview[:-1])[same_patient].mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    stats = derive(args.csv)
    args.out.write_text(json.dumps(stats, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB): {stats['n_frontal_images']} frontal images, "
          f"{len(stats['patterns'])} label patterns covering {stats['pattern_coverage']:.4f}, "
          f"follow-up same pattern {stats['followup_same_pattern']:.3f}")


if __name__ == "__main__":
    main()
