"""An NIH ChestX-ray14 tree in the release's layout: Data_Entry_2017_v2020.csv, the official lists
and a tiny stand-in PNG per row (the real films are public but 42 GB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

FINDINGS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis", "Hernia",
            "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax")


def nih_table(n_patients: int, seed: int = 0, first_patient: int = 1) -> pd.DataFrame:
    """Data_Entry rows for `n_patients` made-up patients (1-4 films each), findings frequent enough that a
    few hundred patients give every label positives and negatives."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(first_patient, first_patient + n_patients):
        age, sex = int(rng.integers(20, 90)), str(rng.choice(["M", "F"]))
        for follow_up in range(int(rng.integers(1, 5))):
            found = [f for f in FINDINGS if rng.random() < 0.15]
            rows.append({"Image Index": f"{patient:08d}_{follow_up:03d}.png", "Finding Labels": "|".join(found) or "No Finding",
                         "Follow-up #": follow_up, "Patient ID": patient, "Patient Age": age + follow_up // 2,
                         "Patient Gender": sex, "View Position": str(rng.choice(["PA", "AP"])),
                         "OriginalImage[Width": 2500, "Height]": 2048, "OriginalImagePixelSpacing[x": 0.143, "y]": 0.143})
    return pd.DataFrame(rows)


def build_nih_tree(root: Path, table: pd.DataFrame, *, kaggle: bool = False, seed: int = 0) -> Path:
    """`root/Data_Entry_2017_v2020.csv`, `train_val_list.txt` / `test_list.txt` (a fifth of the patients
    in test) and a 24x24 PNG per row under `images/` (or split over `images_00N/images/`)."""
    root.mkdir(parents=True, exist_ok=True)
    table.to_csv(root / "Data_Entry_2017_v2020.csv", index=False)
    test = table["Patient ID"] % 5 == 0
    (root / "test_list.txt").write_text("\n".join(table.loc[test, "Image Index"]) + "\n")
    (root / "train_val_list.txt").write_text("\n".join(table.loc[~test, "Image Index"]) + "\n")
    rng = np.random.default_rng(seed)
    for i, name in enumerate(table["Image Index"]):
        folder = root / (f"images_{i % 3 + 1:03d}/images" if kaggle else "images")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)).save(folder / name)
    return root
