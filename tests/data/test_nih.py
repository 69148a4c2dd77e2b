"""NIH ChestX-ray14: rows and label mapping, both image layouts, the official split, `data verify nih`,
and the committed release digests and fingerprints (from the real CSV torchxrayvision ships, when installed)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxrbench.data.sources import get_source
from cxrbench.data.sources.nih import (
    LEFT_OUT,
    NIH_LABELS,
    NOT_ANNOTATED,
    RELEASES_FILE,
    compare_release,
    release_digests,
)
from cxrbench.errors import DataError, SchemaError
from cxrbench.schema import LABEL_SETS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nih_tree import build_nih_tree, nih_table  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _bundled_csv() -> Path:
    xrv = pytest.importorskip("torchxrayvision")
    return Path(os.path.dirname(xrv.__file__)) / "data" / "Data_Entry_2017_v2020.csv.gz"


def _tree(tmp_path, rows: list[dict] | None = None, **kwargs) -> Path:
    table = nih_table(40) if rows is None else pd.DataFrame(rows)
    return build_nih_tree(tmp_path / "nih", table, **kwargs)


def _row(name: str, findings: str, patient: int = 7) -> dict:
    return {"Image Index": name, "Finding Labels": findings, "Follow-up #": 0, "Patient ID": patient,
            "Patient Age": 61, "Patient Gender": "F", "View Position": "AP"}


def test_findings_map_onto_cxrbench_labels(tmp_path):
    root = _tree(tmp_path, [_row("a.png", "Mass|Effusion"), _row("b.png", "Infiltration|Emphysema"),
                            _row("c.png", "No Finding"), _row("d.png", "Nodule|Pleural_Thickening")])
    rows = get_source("nih", root).rows().set_index("image_id")
    assert LABEL_SETS["nih10"] == NIH_LABELS and len(NIH_LABELS) == 10
    assert set(NOT_ANNOTATED) == {"Enlarged Cardiomediastinum", "Lung Opacity", "Fracture", "Support Devices"}
    assert rows[list(NOT_ANNOTATED)].isna().all().all()  # not annotated by NIH: blank, never negative
    a = rows.loc["a.png"]
    assert a["Lung Lesion"] == 1 and a["Pleural Effusion"] == 1 and a["No Finding"] == 0 and a["Edema"] == 0
    assert rows.loc["b.png", list(NIH_LABELS)].sum() == 0  # left-out findings leave every label negative
    assert rows.loc["c.png", "No Finding"] == 1
    assert rows.loc["d.png", "Lung Lesion"] == 1 and rows.loc["d.png", "Pleural Other"] == 1
    assert (rows.loc["a.png", ["patient_id", "study_id", "sex", "view", "race"]].tolist()
            == ["7", "7/0", "F", "AP", "Other/Unknown"]) and rows.loc["a.png", "age"] == 61
    assert set(LEFT_OUT) == {"Emphysema", "Fibrosis", "Hernia", "Infiltration"}


def test_an_unknown_finding_names_its_line(tmp_path):
    root = _tree(tmp_path, [_row("a.png", "Mass"), _row("b.png", "Effusion|Covid-19")])
    with pytest.raises(SchemaError, match=r"line 3: finding 'Covid-19' is not one of NIH's 14 findings"):
        get_source("nih", root).rows()


@pytest.mark.parametrize("kaggle", [False, True])
def test_pixels_load_from_either_layout(tmp_path, kaggle):
    src = get_source("nih", _tree(tmp_path, kaggle=kaggle))
    rows = src.rows()
    images = src.load_batch(rows.iloc[:5], 32)
    assert images.shape == (5, 32, 32) and images.dtype == np.uint8 and images.std() > 0
    assert not any("are not under images/" in line for line in src.release_problems())  # every film is found


def test_official_split_reads_the_lists(tmp_path):
    root = _tree(tmp_path)
    split = get_source("nih", root).split("official")
    table = nih_table(40)
    assert split.counts()["images"] == {"train": int((table["Patient ID"] % 5 != 0).sum()),
                                        "val": 0, "test": int((table["Patient ID"] % 5 == 0).sum())}
    with open(root / "test_list.txt", "a") as fh:
        fh.write("99999999_000.png\n")
    with pytest.raises(DataError, match=r"1 image\(s\) of the official lists are not in Data_Entry_2017_v2020.csv, "
                                        r"e.g. 99999999_000.png"):
        get_source("nih", root).split("official")


def test_data_verify_names_missing_images_and_another_release(tmp_path):
    from cxrbench.cli import app

    root = _tree(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["data", "verify", "nih", "--root", str(root)])
    # made-up patients 1..40 are a subset of the frozen split; the CSV is not the release's
    assert "subset" in result.output and "Data_Entry_2017_v2020.csv holds" in result.output
    assert result.exit_code == 1
    (root / "images" / "00000003_000.png").unlink()
    result = runner.invoke(app, ["data", "verify", "nih", "--root", str(root)])
    assert "images listed in Data_Entry_2017_v2020.csv are not under images/" in result.output
    assert "00000003_000.png" in result.output


def test_another_release_is_named_by_what_it_changes():
    release = json.loads(RELEASES_FILE.read_text())["digests"]
    older = {**release, "sha256": {**release["sha256"], "ages": "0" * 64}}
    (line,) = compare_release(older, "Data_Entry_2017.csv")
    assert line.startswith("Data_Entry_2017.csv lists the same images as the Data_Entry_2017_v2020 release but "
                           "differs in ages")
    assert compare_release(release, "x.csv") == []


def test_committed_release_digests_are_the_real_csvs():
    from cxrbench.data.tables import read_table

    committed = json.loads(RELEASES_FILE.read_text())["digests"]
    assert release_digests(read_table(_bundled_csv())) == committed
    assert committed["rows"] == 112_120 and committed["patients"] == 30_805


@pytest.fixture
def real_nih_metadata_root(tmp_path, monkeypatch) -> Path:
    """An NIH root holding only the real CSV (no images): enough for every fingerprint."""
    root = tmp_path / "nih"
    root.mkdir()
    (root / "Data_Entry_2017_v2020.csv.gz").symlink_to(_bundled_csv())
    monkeypatch.setenv("CXRBENCH_NIH_ROOT", str(root))
    return root


def test_committed_split_fingerprint_is_the_real_csvs(real_nih_metadata_root):
    from cxrbench.data import fingerprint as fp

    src = get_source("nih", real_nih_metadata_root)
    local = fp.Fingerprint.of(src.split("cxrbench"), src.rows())
    assert fp.verify(local, fp.committed("nih", "cxrbench")).status == "match"
    assert local.patients == {"train": 21_603, "val": 3_114, "test": 6_088}


def test_committed_task_fingerprints_are_the_real_csvs(real_nih_metadata_root, shared_data, tmp_path, monkeypatch):
    folder = tmp_path / "cxr" / "CheXpert-v1.0-small"
    folder.mkdir(parents=True)
    (folder / "train.csv.gz").symlink_to(shared_data / "metadata" / "chexpert_train.csv.gz")
    monkeypatch.setenv("CXRBENCH_CHEXPERT_ROOT", str(tmp_path / "cxr"))
    from cxrbench.runner.task_fingerprints import task_fingerprints

    assert task_fingerprints("nih") == json.loads((REPO / "tasks" / "cxrbench" / "tasks" / "nih.fingerprints.json").read_text())
