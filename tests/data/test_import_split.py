import pandas as pd
import pytest

from cxrbench.data import fingerprint as fp
from cxrbench.data.import_split import import_split, read_split_list
from cxrbench.data.sources.chexpert import CheXpertSource
from cxrbench.data.splits import split_rows
from cxrbench.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def paper_split(shared_data):
    lists = shared_data / "paper-splits"
    return import_split({"train": lists / "cxp_tr.csv.gz", "test": lists / "cxp_ts.csv.gz"}, "chexpert")


def test_the_studys_chexpert_lists_import_to_the_published_counts(paper_split):
    counts = paper_split.counts()
    assert counts["images"] == {"train": 72_053, "val": 0, "test": 56_448}
    assert counts["patients"] == {"train": 29_517, "val": 0, "test": 23_842}
    by_split = paper_split.images.groupby("split")["patient_id"].apply(set)
    assert not by_split["train"] & by_split["test"]
    assert fp.verify(fp.Fingerprint.of(paper_split), fp.committed("chexpert", "paper")).status == "match"


def test_imported_ids_select_rows_of_the_real_source(paper_split, chexpert_root, chexpert_sample):
    rows = CheXpertSource(chexpert_root).rows()
    parts = split_rows(rows, paper_split)
    listed = set(paper_split.images.index)
    assert len(parts["train"]) + len(parts["test"]) == rows["image_id"].isin(listed).sum() > 0
    assert set(parts["train"]["image_id"]) <= set(paper_split.images.index[paper_split.images["split"] == "train"])


def test_the_studys_mimic_test_list(shared_data):
    split = import_split({"test": shared_data / "paper-splits" / "mimic_ts.csv.gz"}, "mimic")
    assert split.counts()["images"]["test"] == 5961
    assert split.counts()["patients"]["test"] == 4503
    assert fp.verify(fp.Fingerprint.of(split), fp.committed("mimic", "paper")).status == "match"
    first = pd.read_csv(shared_data / "paper-splits" / "mimic_ts.csv.gz", dtype=str, nrows=1).iloc[0]
    assert split.images.loc[first["dicom_id"], "patient_id"] == first["subject_id"]


def test_bad_lists(tmp_path):
    good = "Path,PID\nCheXpert-v1.0/train/patient00003/study1/view1_frontal.jpg,3\n"
    (tmp_path / "tr.csv").write_text(good)
    (tmp_path / "ts.csv").write_text(good.replace("view1_frontal", "view2_frontal"))
    with pytest.raises(DataError, match=r"1 patient\(s\) appear in more than one split, e.g. \['patient00003'\]"):
        import_split({"train": tmp_path / "tr.csv", "test": tmp_path / "ts.csv"}, "chexpert")
    (tmp_path / "pid.csv").write_text(good.replace(",3", ",4"))
    with pytest.raises(DataError, match=r"pid.csv: line 2: PID '4' does not match the patient in path"):
        read_split_list(tmp_path / "pid.csv", "chexpert")
    (tmp_path / "nopath.csv").write_text("File,PID\nx.jpg,3\n")
    with pytest.raises(DataError, match=r"nopath.csv: no image path column \(looked for Path, path\)"):
        read_split_list(tmp_path / "nopath.csv", "chexpert")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: file is empty"):
        read_split_list(tmp_path / "empty.csv", "chexpert")
    with pytest.raises(ConfigError, match="unknown split name"):
        import_split({"holdout": tmp_path / "tr.csv"}, "chexpert")
