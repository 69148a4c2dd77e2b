"""`cxrbench data ...` end to end, on fixtures built from the real CheXpert metadata."""

import os
import subprocess
import sys
import types

import pandas as pd
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from cxrbench.cli import data as data_cli
from cxrbench.errors import ConfigError

from .conftest import build_chexpert_tree

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    data_cli.register(app)
    return app


@pytest.fixture
def full_metadata_root(tmp_path, shared_data):
    """The real 223,414-row train.csv (linked, not copied) in the -small layout, no images."""
    layout = tmp_path / "CheXpert-v1.0-small"
    layout.mkdir()
    (layout / "train.csv.gz").symlink_to(shared_data / "metadata" / "chexpert_train.csv.gz")
    return tmp_path


def test_verify_matches_on_the_full_real_metadata(app, full_metadata_root):
    result = runner.invoke(app, ["data", "verify", "chexpert", "--root", str(full_metadata_root)])
    assert result.exit_code == 0, result.output
    assert "match: chexpert split 'cxrbench'" in result.output
    assert "train 45,292 / val 6,555 / test 12,687" in result.output
    assert "train 134,181 / val 19,265 / test 37,581" in result.output  # 191,027 frontal images


def test_verify_reports_a_subset_and_fails_it_under_strict(app, chexpert_root):
    result = runner.invoke(app, ["data", "verify", "chexpert", "--root", str(chexpert_root)])
    assert result.exit_code == 0, result.output
    assert "subset: chexpert" in result.output
    assert "frozen patient(s) absent locally" in result.output
    strict = runner.invoke(app, ["data", "verify", "chexpert", "--root", str(chexpert_root), "--strict"])
    assert strict.exit_code == 1


def test_verify_names_patients_that_are_not_in_the_frozen_split(app, tmp_path, chexpert_sample):
    changed = chexpert_sample.copy()
    first = changed["Path"].str.split("/").str[2].iloc[0]
    changed["Path"] = changed["Path"].str.replace(f"/{first}/", "/patient99999/", regex=False)
    root = build_chexpert_tree(tmp_path / "c", changed, images=False)
    result = runner.invoke(app, ["data", "verify", "chexpert", "--root", str(root)])
    assert result.exit_code == 1, result.output
    assert "mismatch" in result.output
    assert "1 local patient(s) not in the frozen split: patient99999" in result.output


def test_import_split_then_verify_the_file(app, tmp_path, shared_data):
    lists = shared_data / "paper-splits"
    out = tmp_path / "paper.parquet"
    result = runner.invoke(app, ["data", "import-split", f"train={lists / 'cxp_tr.csv.gz'}",
                                 f"test={lists / 'cxp_ts.csv.gz'}", "--out", str(out),
                                 "--fingerprint-out", str(tmp_path / "fp.json")])
    assert result.exit_code == 0, result.output
    assert "train: 72,053 images from 29,517 patients" in result.output
    assert "test: 56,448 images from 23,842 patients" in result.output
    assert "match against committed fingerprint chexpert-paper" in result.output
    assert len(pd.read_parquet(out)) == 72_053 + 56_448
    again = runner.invoke(app, ["data", "verify", "chexpert", "--split-file", str(out)])
    assert again.exit_code == 0 and "match: chexpert split 'paper'" in again.output
    bad = runner.invoke(app, ["data", "import-split", "train", "--out", str(out)])
    assert isinstance(bad.exception, ConfigError) and "is not SPLIT=FILE" in str(bad.exception)


def test_preview_chexpert_writes_a_labelled_grid(app, tmp_path, chexpert_root):
    out = tmp_path / "grid.png"
    result = runner.invoke(app, ["data", "preview", "chexpert", "--root", str(chexpert_root), "--out", str(out),
                                 "--n", "6", "--size", "64"])
    assert result.exit_code == 0, result.output
    assert "(6 images)" in result.output
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 300


def test_preview_phantom_calls_the_phantom_gallery(app, tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("cxrbench.data.phantom.gallery")
    fake.write_gallery = lambda out_path, size, seed: calls.append((out_path, size, seed))
    monkeypatch.setitem(sys.modules, "cxrbench.data.phantom.gallery", fake)
    out = tmp_path / "phantom.png"
    result = runner.invoke(app, ["data", "preview", "phantom", "--out", str(out), "--size", "128", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert calls == [(out, 128, 3)]


def test_preview_phantom_with_the_real_gallery(app, tmp_path):
    pytest.importorskip("cxrbench.data.phantom.gallery")
    out = tmp_path / "phantom.png"
    result = runner.invoke(app, ["data", "preview", "phantom", "--out", str(out), "--size", "32"])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.format == "PNG"


def test_ls_lists_sources_fingerprints_and_a_local_copy(app, chexpert_root, chexpert_sample):
    result = runner.invoke(app, ["data", "ls"])
    assert result.exit_code == 0
    for word in ("phantom", "chexpert", "mimic", "csv", "45,292", "72,053"):
        assert word in result.output
    local = runner.invoke(app, ["data", "ls", "chexpert", "--root", str(chexpert_root)])
    assert local.exit_code == 0, local.output
    assert f"{len(chexpert_sample):,} images, 60 patients" in local.output
    misuse = runner.invoke(app, ["data", "ls", "chexpert", "--root", str(chexpert_root), "--mapping", "m.yaml"])
    assert isinstance(misuse.exception, ConfigError)


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    """Through the real `cxrbench` entry point: no traceback, the path named, exit code 2."""
    # COLUMNS: the shell's stderr Console wraps at 80 columns when not on a terminal (reported
    # to the CLI owner); the message itself is one line.
    env = {**os.environ, "COLUMNS": "400"}
    proc = subprocess.run([sys.executable, "-m", "cxrbench.cli", "data", "verify", "chexpert",
                           "--root", str(tmp_path / "missing")], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "error: chexpert: root" in lines[0] and "missing does not exist" in lines[0]


def test_write_fingerprint_makes_a_new_one_and_verify_uses_it(app, tmp_path, chexpert_root):
    out = tmp_path / "new.json"
    result = runner.invoke(app, ["data", "verify", "chexpert", "--root", str(chexpert_root), "--write-fingerprint", str(out)])
    assert result.exit_code == 0 and out.is_file()
    again = runner.invoke(app, ["data", "verify", "chexpert", "--root", str(chexpert_root), "--fingerprint", str(out)])
    assert again.exit_code == 0 and "match" in again.output
