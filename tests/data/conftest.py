"""Fixtures for the data layer: small CheXpert / MIMIC / hospital-CSV trees built in tmp_path.

Real-data fixtures take a sample of the real CheXpert train metadata (or the study's MIMIC test
list) and write tiny JPEGs at the real relative paths; they skip when ../shared/data is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxrbench.schema import PATHOLOGIES


def write_jpeg(path: Path, rng: np.random.Generator, shape=(48, 40)) -> None:
    """A small grayscale JPEG: a smooth gradient plus noise, so resizing has something to average."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = shape
    gradient = np.add.outer(np.linspace(0, 150, h), np.linspace(0, 80, w))
    pixels = np.clip(gradient + rng.normal(0, 20, shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


@pytest.fixture(scope="session")
def chexpert_metadata(shared_data) -> pd.DataFrame:
    """The real CheXpert train.csv (223,414 rows), as strings."""
    return pd.read_csv(shared_data / "metadata" / "chexpert_train.csv.gz", dtype=str)


@pytest.fixture(scope="session")
def chexpert_sample(chexpert_metadata) -> pd.DataFrame:
    """Every row of 60 real patients (a seeded sample), frontal and lateral."""
    patients = chexpert_metadata["Path"].str.split("/").str[2]
    chosen = np.random.default_rng(7).choice(patients.unique(), size=60, replace=False)
    return chexpert_metadata[patients.isin(chosen).to_numpy()].reset_index(drop=True)


def build_chexpert_tree(root: Path, table: pd.DataFrame, layout: str = "CheXpert-v1.0-small",
                        images: bool = True, seed: int = 0) -> Path:
    """`root/<layout>/train.csv` from `table` (paths re-rooted to `layout`) and a JPEG per row."""
    folder = root / layout
    folder.mkdir(parents=True, exist_ok=True)
    table = table.copy()
    table["Path"] = layout + "/" + table["Path"].str.split("/", n=1).str[1]
    table.to_csv(folder / "train.csv", index=False)
    if images:
        rng = np.random.default_rng(seed)
        for rel in table["Path"]:
            write_jpeg(root / rel, rng)
    return root


@pytest.fixture(scope="session")
def _chexpert_tree_once(tmp_path_factory, chexpert_sample) -> Path:
    return build_chexpert_tree(tmp_path_factory.mktemp("chexpert-once") / "chexpert", chexpert_sample)


@pytest.fixture
def chexpert_root(tmp_path, _chexpert_tree_once) -> Path:
    """A CheXpert-v1.0-small tree: 60 real patients' metadata rows and a tiny JPEG at each path.

    A fresh copy per test, so tests may corrupt or delete images.
    """
    return Path(shutil.copytree(_chexpert_tree_once, tmp_path / "chexpert"))


@pytest.fixture
def tiny_chexpert_csv(tmp_path) -> Path:
    """A hand-written 4-row CheXpert train.csv (no shared data needed), for bad-input tests."""
    folder = tmp_path / "tiny" / "CheXpert-v1.0-small"
    folder.mkdir(parents=True)
    header = "Path,Sex,Age,Frontal/Lateral,AP/PA," + ",".join(PATHOLOGIES)
    blank = "," * (len(PATHOLOGIES) - 1)
    rows = [
        "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0" + blank,
        "CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg,Male,40,Frontal,PA,,1.0" + blank[1:],
        "CheXpert-v1.0-small/train/patient00002/study1/view2_lateral.jpg,Male,40,Lateral,,,-1.0" + blank[1:],
        "CheXpert-v1.0-small/train/patient00003/study1/view1_frontal.jpg,Unknown,,Frontal,AP,0.0" + blank,
    ]
    path = folder / "train.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path
