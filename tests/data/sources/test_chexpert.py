import numpy as np
import pandas as pd
import pytest

from cxrbench.data.sources import get_source
from cxrbench.data.sources.chexpert import CheXpertSource
from cxrbench.errors import DataError, SchemaError
from cxrbench.schema import CANONICAL_COLUMNS, PATHOLOGIES, validate_canonical

from ..conftest import build_chexpert_tree


def test_rows_are_canonical_frontal_and_match_the_real_metadata(chexpert_root, chexpert_sample):
    source = get_source("chexpert", chexpert_root)
    rows = source.rows()
    validate_canonical(rows)
    assert tuple(rows.columns) == CANONICAL_COLUMNS
    frontal = chexpert_sample[chexpert_sample["Frontal/Lateral"] == "Frontal"]
    assert len(rows) == len(frontal)
    assert len(source.rows(frontal_only=False)) == len(chexpert_sample)
    assert set(rows["view"]) <= {"AP", "PA", "UNKNOWN"}
    assert (source.rows(frontal_only=False)["view"] == "LATERAL").sum() == (chexpert_sample["Frontal/Lateral"] == "Lateral").sum()
    # labels survive exactly, blanks as NaN
    first = frontal.iloc[0]
    row = rows.set_index("path").loc[first["Path"]]
    for label in PATHOLOGIES:
        raw = first[label]
        assert (np.isnan(row[label]) and pd.isna(raw)) or row[label] == float(raw)
    assert row["sex"] == {"Female": "F", "Male": "M"}.get(first["Sex"], "U")
    assert row["patient_id"] == first["Path"].split("/")[2]
    assert row["image_id"] == first["Path"].split("/", 1)[1]
    assert (rows["race"] == "Other/Unknown").all()  # no demographics file here
    assert source.cache_namespace == "chexpert-small"


def test_both_layouts_give_the_same_ids_and_root_may_be_the_layout_folder(tmp_path, chexpert_sample):
    small = CheXpertSource(build_chexpert_tree(tmp_path / "a", chexpert_sample, images=False))
    full = CheXpertSource(build_chexpert_tree(tmp_path / "b", chexpert_sample, layout="CheXpert-v1.0", images=False))
    inner = CheXpertSource(tmp_path / "b" / "CheXpert-v1.0")
    assert small.rows()["image_id"].tolist() == full.rows()["image_id"].tolist() == inner.rows()["image_id"].tolist()
    assert (small.layout, full.layout) == ("small", "full")
    assert small.cache_namespace != full.cache_namespace


def test_pixels_load_from_the_real_paths(chexpert_root):
    source = CheXpertSource(chexpert_root)
    rows = source.rows().head(3)
    pixels = source.load_pixels(rows.iloc[0])
    assert pixels.dtype == np.uint8 and pixels.shape == (48, 40)
    batch = source.load_batch(rows, 32)
    assert batch.shape == (3, 32, 32) and batch.dtype == np.uint8
    assert batch[:, :, :2].max() == 0 and batch[:, :, 2].min() > 0  # 48x40 → 32x27, 2 pad columns left


def test_valid_partition_and_demographics_give_race_groups(tmp_path, tiny_chexpert_csv):
    folder = tiny_chexpert_csv.parent
    valid = tiny_chexpert_csv.read_text().replace("train/patient0000", "valid/patient6454")
    (folder / "valid.csv").write_text(valid)
    pd.DataFrame({
        "PATIENT": ["patient00001", "patient00002", "patient00003", "patient64541"],
        "GENDER": ["Female", "Male", "Female", "Male"],
        "AGE_AT_CXR": ["68", "40", "55", "30"],
        "PRIMARY_RACE": ["White, non-Hispanic", "Black or African American", "Native Hawaiian or Other Pacific Islander",
                         "Patient Refused"],
        "ETHNICITY": ["Non-Hispanic/Non-Latino"] * 4,
    }).to_csv(folder / "CHEXPERT DEMO.csv", index=False)
    source = CheXpertSource(folder.parent, partitions=("train", "valid"))
    rows = source.rows().set_index("image_id")
    assert rows.loc["train/patient00001/study1/view1_frontal.jpg", "race"] == "White"
    assert rows.loc["train/patient00002/study1/view1_frontal.jpg", "race"] == "Black"
    assert rows.loc["train/patient00003/study1/view1_frontal.jpg", "race"] == "Pacific Islander"
    # blank Sex/Age in train.csv are filled from the demographics file
    assert rows.loc["train/patient00003/study1/view1_frontal.jpg", "sex"] == "F"
    assert rows.loc["train/patient00003/study1/view1_frontal.jpg", "age"] == 55
    assert rows.loc["valid/patient64541/study1/view1_frontal.jpg", "race"] == "Other/Unknown"
    assert len(rows) == 6


def test_missing_root_and_missing_csv(tmp_path):
    with pytest.raises(DataError, match="chexpert: root .*nowhere does not exist"):
        CheXpertSource(tmp_path / "nowhere")
    with pytest.raises(DataError, match="holds no train.csv or valid.csv"):
        CheXpertSource(tmp_path)


def test_renamed_column_is_named_with_a_hint(tiny_chexpert_csv):
    text = tiny_chexpert_csv.read_text().replace("Pleural Effusion", "Pleural_Effusion", 1)
    tiny_chexpert_csv.write_text(text)
    with pytest.raises(SchemaError, match=r"train.csv: missing column 'Pleural Effusion'; did you mean 'Pleural_Effusion'"):
        CheXpertSource(tiny_chexpert_csv.parent.parent).rows()


def test_unknown_label_value_names_file_column_and_line(tiny_chexpert_csv):
    lines = tiny_chexpert_csv.read_text().splitlines()
    lines[3] = lines[3].replace(",-1.0", ",maybe")
    tiny_chexpert_csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match=r"train.csv: column 'Enlarged Cardiomediastinum' line 4 has label value 'maybe'"):
        CheXpertSource(tiny_chexpert_csv.parent.parent).rows()


def test_empty_and_header_only_csv(tiny_chexpert_csv):
    root = tiny_chexpert_csv.parent.parent
    tiny_chexpert_csv.write_text("")
    with pytest.raises(DataError, match="train.csv: file is empty"):
        CheXpertSource(root).rows()
    tiny_chexpert_csv.write_text("Path,Sex\n")
    with pytest.raises(DataError, match="train.csv: has a header but no rows"):
        CheXpertSource(root).rows()


def test_duplicate_paths_are_named_with_their_lines(tiny_chexpert_csv):
    lines = tiny_chexpert_csv.read_text().splitlines()
    tiny_chexpert_csv.write_text("\n".join(lines + [lines[1]]) + "\n")
    with pytest.raises(SchemaError, match=r"duplicate Path '.*patient00001/study1/view1_frontal.jpg' on lines \[2, 6\]"):
        CheXpertSource(tiny_chexpert_csv.parent.parent).rows()


def test_a_path_that_is_not_chexpert_is_named(tiny_chexpert_csv):
    text = tiny_chexpert_csv.read_text().replace("train/patient00003/study1", "somewhere/else", 1)
    tiny_chexpert_csv.write_text(text)
    with pytest.raises(SchemaError, match=r"line 5: path '.*somewhere/else/view1_frontal.jpg' is not"):
        CheXpertSource(tiny_chexpert_csv.parent.parent).rows()


def test_missing_and_corrupt_images_name_the_path(tiny_chexpert_csv):
    source = CheXpertSource(tiny_chexpert_csv.parent.parent)
    row = source.rows().iloc[0]
    with pytest.raises(DataError, match=r"patient00001/study1/view1_frontal.jpg: image file not found"):
        source.load_pixels(row)
    path = source.image_path(row)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"view1_frontal.jpg: corrupt or unreadable image"):
        source.load_batch(source.rows().head(1), 64)
