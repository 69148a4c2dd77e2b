import numpy as np
import pandas as pd
import pytest

from cxrbench.data.fingerprint import Fingerprint
from cxrbench.data.sources import get_source
from cxrbench.data.sources.mimic import MIMICSource
from cxrbench.errors import DataError, SchemaError
from cxrbench.schema import PATHOLOGIES, validate_canonical

from ..conftest import write_jpeg

VIEWS = ["PA", "AP", "LATERAL", "LL", "AP AXIAL"]


@pytest.fixture
def mimic_root(tmp_path, shared_data):
    """A MIMIC-CXR-JPG tree for 30 images of the study's real MIMIC test list, with MIMIC-IV tables."""
    listed = pd.read_csv(shared_data / "paper-splits" / "mimic_ts.csv.gz", dtype=str).head(30)
    rng = np.random.default_rng(3)
    root = tmp_path / "mimic"
    root.mkdir()
    meta = listed[["dicom_id", "subject_id", "study_id"]].copy()
    meta["ViewPosition"] = [VIEWS[i % len(VIEWS)] for i in range(len(meta))]
    meta["StudyDate"] = [f"{2150 + i % 5}0612" for i in range(len(meta))]
    meta.to_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz", index=False)
    studies = meta[["subject_id", "study_id"]].drop_duplicates()
    labels = pd.DataFrame(rng.choice(["1.0", "0.0", "-1.0", ""], size=(len(studies), 14)), columns=PATHOLOGIES)
    pd.concat([studies.reset_index(drop=True), labels], axis=1).to_csv(root / "mimic-cxr-2.0.0-chexpert.csv.gz", index=False)
    subjects = sorted(meta["subject_id"].unique())
    official = {s: ["train", "validate", "test"][i % 3] for i, s in enumerate(subjects)}
    split = meta[["dicom_id", "study_id", "subject_id"]].assign(split=meta["subject_id"].map(official))
    split.to_csv(root / "mimic-cxr-2.0.0-split.csv.gz", index=False)
    hosp = root / "hosp"
    hosp.mkdir()
    pd.DataFrame({"subject_id": subjects, "gender": ["F", "M"] * (len(subjects) // 2) + ["F"] * (len(subjects) % 2),
                  "anchor_age": [60] * len(subjects), "anchor_year": [2150] * len(subjects)}).to_csv(hosp / "patients.csv.gz", index=False)
    pd.DataFrame({"subject_id": [subjects[0], subjects[0], subjects[0], subjects[1]],
                  "race": ["WHITE", "UNKNOWN", "WHITE - RUSSIAN", "BLACK/AFRICAN AMERICAN"]}).to_csv(hosp / "admissions.csv.gz", index=False)
    for _, r in listed.iterrows():
        write_jpeg(root / "files" / r["Path"], rng)
    return root


def test_rows_views_demographics_and_paths(mimic_root):
    source = get_source("mimic", mimic_root)
    everything = source.rows(frontal_only=False)
    validate_canonical(everything)
    assert len(everything) == 30
    assert everything["view"].value_counts().to_dict() == {"PA": 6, "AP": 6, "LATERAL": 12, "UNKNOWN": 6}
    rows = source.rows()
    assert set(rows["view"]) == {"PA", "AP"} and len(rows) == 12
    first = everything.iloc[0]
    assert first["age"] == 60  # anchor_age + (2150 - anchor_year)
    assert everything.iloc[1]["age"] == 61
    by_patient = everything.drop_duplicates("patient_id").set_index("patient_id")["race"]
    subjects = sorted(everything["patient_id"].unique())
    assert by_patient[subjects[0]] == "White" and by_patient[subjects[1]] == "Black"
    assert by_patient[subjects[2]] == "Other/Unknown"
    assert set(everything["sex"]) == {"F", "M"}
    pixels = source.load_batch(rows.head(2), 32)
    assert pixels.shape == (2, 32, 32)
    assert str(source.image_path(rows.iloc[0])).endswith(
        f"files/p{rows.iloc[0]['patient_id'][:2]}/p{rows.iloc[0]['patient_id']}/s{rows.iloc[0]['study_id']}/{rows.iloc[0]['image_id']}.jpg")


def test_labels_are_study_level(mimic_root):
    rows = MIMICSource(mimic_root).rows(frontal_only=False)
    raw = pd.read_csv(mimic_root / "mimic-cxr-2.0.0-chexpert.csv.gz", dtype=str)
    study = raw.iloc[0]
    mine = rows[rows["study_id"] == study["study_id"]]
    for label in PATHOLOGIES:
        expected = np.nan if pd.isna(study[label]) else float(study[label])
        assert np.allclose(mine[label].to_numpy(dtype=float), expected, equal_nan=True)


def test_official_and_hash_splits(mimic_root):
    source = MIMICSource(mimic_root)
    official = source.split("official")
    assert official.level == "image"
    assert set(official.images["split"]) <= {"train", "val", "test"}
    assert "val" in set(official.images["split"])  # "validate" is renamed
    assert len(official.images) == 12  # frontal images only
    fp = Fingerprint.of(source.split("cxrbench"), source.rows())
    assert sum(fp.images.values()) == 12


def test_without_mimic_iv_demographics_are_unknown(mimic_root):
    import shutil

    shutil.rmtree(mimic_root / "hosp")
    rows = MIMICSource(mimic_root).rows()
    assert set(rows["sex"]) == {"U"} and rows["age"].isna().all() and set(rows["race"]) == {"Other/Unknown"}


def test_bad_input(mimic_root, tmp_path):
    with pytest.raises(DataError, match="MIMIC-CXR metadata not found"):
        MIMICSource(tmp_path).rows()
    meta = pd.read_csv(mimic_root / "mimic-cxr-2.0.0-metadata.csv.gz", dtype=str)
    meta.rename(columns={"ViewPosition": "View Position"}).to_csv(mimic_root / "mimic-cxr-2.0.0-metadata.csv.gz", index=False)
    with pytest.raises(SchemaError, match="missing column 'ViewPosition'; did you mean 'View Position'"):
        MIMICSource(mimic_root).rows()
    pd.concat([meta, meta.head(1)]).to_csv(mimic_root / "mimic-cxr-2.0.0-metadata.csv.gz", index=False)
    with pytest.raises(SchemaError, match=f"duplicate dicom_id '{meta.iloc[0]['dicom_id']}' on lines \\[2, 32\\]"):
        MIMICSource(mimic_root).rows()
    with pytest.raises(Exception, match="labeler must be 'chexpert' or 'negbio'"):
        MIMICSource(mimic_root, labeler="radiologist")
