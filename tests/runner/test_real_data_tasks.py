"""The shipped real-data tasks (chexpert/*, mimic/*): valid specs, fingerprints from the real
CheXpert metadata, and `cxrbench evaluate` end to end on a CheXpert tree built from real metadata
rows with tiny stand-in JPEGs (the images cannot ship). Data tests skip without ../shared/data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxrbench.errors import ConfigError
from cxrbench.results import read_record
from cxrbench.runner import datasets
from cxrbench.runner.evaluate import RunOptions, evaluate
from cxrbench.tasking import default_tasks, get_task, split_fingerprints

REPO = Path(__file__).resolve().parents[2]


def build_chexpert_tree(*args, **kwargs):
    """The data layer's CheXpert tree builder (tests/data/conftest.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_data_conftest", REPO / "tests" / "data" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_chexpert_tree(*args, **kwargs)


def test_real_data_tasks_ship_with_their_baselines_and_budgets():
    sup, syn, cross = get_task("chexpert/supplement-100"), get_task("chexpert/synthetic_only-100"), \
        get_task("mimic/cross_source-100")
    assert sup.baseline == "chexpert/supplement-0" and syn.baseline == "chexpert/supplement-0"
    assert cross.baseline == "mimic/cross_source-0"
    assert cross.real_train.source == "mimic" and cross.conditions_from.source == "chexpert"
    assert set(cross.eval_sets) == {"internal_test", "external:chexpert"}
    assert sup.budget("standard").image_size == 256 and sup.budget("standard").recipe == "standard"
    # `cxrbench evaluate` without -t runs the phantom only; `--data chexpert` the CheXpert tasks
    assert {s.name for s in default_tasks("generator", "chexpert", "quick")} == {
        "chexpert/supplement-0", "chexpert/supplement-100", "chexpert/synthetic_only-100"}
    assert all(s.profile == "phantom" for s in default_tasks("generator", "phantom", "quick"))


def test_missing_dataset_root_is_named(monkeypatch):
    monkeypatch.delenv("CXRBENCH_MIMIC_ROOT", raising=False)
    spec = get_task("mimic/cross_source-100")
    with pytest.raises(ConfigError, match="set CXRBENCH_MIMIC_ROOT"):
        datasets.task_split_fingerprints(spec, "quick")


@pytest.fixture
def chexpert_metadata_root(shared_data, tmp_path, monkeypatch) -> Path:
    """A CheXpert root holding only the real train.csv (no images): enough for split fingerprints."""
    folder = tmp_path / "cxr" / "CheXpert-v1.0-small"
    folder.mkdir(parents=True)
    (folder / "train.csv.gz").symlink_to(shared_data / "metadata" / "chexpert_train.csv.gz")
    monkeypatch.setenv("CXRBENCH_CHEXPERT_ROOT", str(tmp_path / "cxr"))
    return tmp_path / "cxr"


def test_committed_chexpert_fingerprints_are_what_the_real_metadata_gives(chexpert_metadata_root):
    from cxrbench.runner.task_fingerprints import task_fingerprints

    committed = json.loads((REPO / "tasks" / "cxrbench" / "tasks" / "chexpert.fingerprints.json").read_text())
    assert task_fingerprints("chexpert") == committed
    fps = split_fingerprints(get_task("chexpert/supplement-100"), "quick")
    assert set(fps) == {"internal_test", "val", "real_train"}  # no `pixels`: the files are the pixels


@pytest.fixture
def chexpert_images_root(shared_data, tmp_path, monkeypatch) -> Path:
    """300 real CheXpert patients' metadata rows with a tiny JPEG at each path."""
    table = pd.read_csv(shared_data / "metadata" / "chexpert_train.csv.gz", dtype=str)
    patients = table["Path"].str.split("/").str[2]
    chosen = np.random.default_rng(3).choice(patients.unique(), size=300, replace=False)
    root = build_chexpert_tree(tmp_path / "cxr", table[patients.isin(chosen).to_numpy()].reset_index(drop=True))
    monkeypatch.setenv("CXRBENCH_CHEXPERT_ROOT", str(root))
    return root


def test_evaluate_a_generator_on_chexpert_end_to_end(chexpert_images_root, tmp_path):
    sub = tmp_path / "noise"
    sub.mkdir()
    (sub / "submission.yaml").write_text('name: noise\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n'
                                         'training_data: []\n')
    (sub / "gen.py").write_text(
        "import numpy as np\nclass Gen:\n    def generate(self, c, s, size):\n"
        "        assert set(c['site']) == {'stanford'}\n"
        "        return np.stack([np.random.default_rng(int(x)).integers(0, 256, (size, size), dtype=np.uint8) for x in s])\n")
    from cxrbench.submissions.bwrap import unavailable_reason

    opts = RunOptions(budget="quick", seeds=[0], out_dir=tmp_path / "runs", cache_root=tmp_path / "cache",
                      profile="chexpert", unsafe_no_sandbox=unavailable_reason() is not None)
    out = evaluate(sub, ["chexpert/supplement-0", "chexpert/supplement-100"], opts)
    assert [o.record.status for o in out] == ["complete", "complete"], [o.record.errors for o in out]
    rec = read_record(out[1].path)
    assert rec.task.name == "chexpert/supplement-100" and rec.task.image_size == 64
    assert "pixels" not in rec.split_fingerprints
    assert rec.comparisons and rec.comparisons[0].eval_set == "internal_test"
    test_ids = set(datasets.real_rows(get_task("chexpert/supplement-100").eval_sets["internal_test"],
                                      get_task("chexpert/supplement-100").budget("quick"))[1]["image_id"])
    assert len(test_ids) > 50 and {s.eval_set for s in rec.eval_sets} == {"internal_test"}


NOISE_GEN = ("import numpy as np\nclass Gen:\n    def generate(self, c, s, size):\n"
             "        return np.stack([np.random.default_rng(int(x)).integers(0, 256, (size, size), dtype=np.uint8) for x in s])\n")


def _noise_submission(tmp_path) -> Path:
    sub = tmp_path / "noise"
    sub.mkdir()
    (sub / "submission.yaml").write_text('name: noise\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n'
                                         'training_data: []\n')
    (sub / "gen.py").write_text(NOISE_GEN)
    return sub


@pytest.fixture
def nih_images_root(tmp_path, monkeypatch) -> Path:
    """An NIH tree of 250 made-up patients in the release's layout, a stand-in PNG per film."""
    sys.path.insert(0, str(REPO / "tests" / "data"))
    from nih_tree import build_nih_tree, nih_table

    root = build_nih_tree(tmp_path / "nih", nih_table(250, seed=5))
    monkeypatch.setenv("CXRBENCH_NIH_ROOT", str(root))
    return root


def test_nih_tasks_ship_with_their_baselines():
    sup, syn, cross = get_task("nih/supplement-100"), get_task("nih/synthetic_only-100"), get_task("nih/cross_source-100")
    assert sup.baseline == syn.baseline == "nih/supplement-0" and cross.baseline == "nih/cross_source-0"
    assert sup.label_set == "nih10" and len(sup.labels) == 10
    assert cross.real_train.source == "nih" and cross.conditions_from.source == "chexpert"
    assert set(cross.eval_sets) == {"internal_test", "external:chexpert"}
    assert {s.name for s in default_tasks("generator", "nih", "quick")} == {
        "nih/supplement-0", "nih/supplement-100", "nih/synthetic_only-100", "nih/cross_source-0",
        "nih/cross_source-100"}


def test_evaluate_a_generator_on_nih_end_to_end(nih_images_root, tmp_path):
    from cxrbench.submissions.bwrap import unavailable_reason

    opts = RunOptions(budget="quick", seeds=[0], out_dir=tmp_path / "runs", cache_root=tmp_path / "cache",
                      profile="nih", unsafe_no_sandbox=unavailable_reason() is not None)
    out = evaluate(_noise_submission(tmp_path), ["nih/supplement-0", "nih/supplement-100", "nih/synthetic_only-100"],
                   opts)
    assert [o.record.status for o in out] == ["complete"] * 3, [o.record.errors for o in out]
    rec = read_record(out[1].path)
    assert rec.task.name == "nih/supplement-100" and rec.task.image_size == 64 and rec.task.label_set == "nih10"
    assert rec.comparisons and rec.comparisons[0].eval_set == "internal_test"
    assert {lab.label for lab in rec.eval_sets[0].labels} == set(get_task("nih/supplement-100").labels)
    assert rec.submission.data_group == "no real data" and "pixels" not in rec.split_fingerprints
    # the audit needs a real-data feature space on NIH: skipped, saying how to get one
    assert "no default audit feature space for profile 'nih'" in rec.audit["skipped"]
    assert read_record(out[2].path).task.family == "synthetic_only"
