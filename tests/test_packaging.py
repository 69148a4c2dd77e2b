"""The install layout: three top-level folders map onto one import package."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cxrbench import schema
from cxrbench.errors import SchemaError

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"benchmark": "cxrbench", "baselines": "cxrbench.baselines", "leaderboard": "cxrbench.leaderboard", "tasks": "cxrbench.tasks"}


def test_every_package_folder_is_importable():
    """setup.py discovers the packages; each must import from the installed distribution."""
    import importlib

    for folder, package in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            importlib.import_module(".".join([package, *rel.parts]) if rel.parts else package)


def test_imports_and_task_files():
    import cxrbench.baselines  # noqa: F401
    import cxrbench.leaderboard  # noqa: F401
    from cxrbench.tasks import tasks_dir

    assert tasks_dir().is_dir()


def test_cli_help_runs():
    out = subprocess.run([sys.executable, "-m", "cxrbench.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "data" in out.stdout


def test_pathologies_in_chexpert_order():
    assert len(schema.PATHOLOGIES) == 14
    assert schema.PATHOLOGIES[0] == "No Finding" and schema.PATHOLOGIES[-1] == "Support Devices"
    assert set(schema.LABEL_SETS["competition5"]) <= set(schema.PATHOLOGIES)


def test_uncertainty_policies():
    raw = np.array([1, 0, -1, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(schema.apply_uncertainty(raw, "zeros")[:3], [1, 0, 0])
    np.testing.assert_array_equal(schema.apply_uncertainty(raw, "ones")[:3], [1, 0, 1])
    ign = schema.apply_uncertainty(raw, "ignore")
    assert np.isnan(ign[2]) and np.isnan(ign[3])
    with pytest.raises(SchemaError, match="unknown uncertainty policy"):
        schema.apply_uncertainty(raw, "maybe")


def _row(**kw):
    row = dict(image_id="a", patient_id="p", study_id="s", source="x", site="x", path="a.jpg",
               view="PA", sex="F", age=50, race="White", **{p: np.nan for p in schema.PATHOLOGIES})
    row.update(kw)
    return row


def test_validate_canonical_names_bad_value_and_duplicates():
    import pandas as pd

    ok = schema.validate_canonical(pd.DataFrame([_row()]))
    assert list(ok.columns) == list(schema.CANONICAL_COLUMNS)
    with pytest.raises(SchemaError, match="'Cardiomegaly' row 0 .* label value 2"):
        schema.validate_canonical(pd.DataFrame([_row(Cardiomegaly=2)]))
    with pytest.raises(SchemaError, match="duplicate image_id"):
        schema.validate_canonical(pd.DataFrame([_row(), _row()]))
    with pytest.raises(SchemaError, match="missing canonical column.*race"):
        schema.validate_canonical(pd.DataFrame([_row()]).drop(columns="race"))


def test_build_is_quiet_and_ships_every_module_and_data_file(tmp_path):
    """A non-editable build: no setuptools "Package would be ignored" flood (each data-only folder is
    a listed namespace package), and namespace packages like cxrbench.runner are in the wheel."""
    import shutil

    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for folder in ROOTS:
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    out = subprocess.run([sys.executable, "setup.py", "-q", "build", "--build-base", str(tmp_path / "build")],
                         cwd=src, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    log = out.stdout + out.stderr
    assert "would be ignored" not in log and "Warning" not in log, log[:3000]
    lib = tmp_path / "build" / "lib" / "cxrbench"
    assert (lib / "runner" / "evaluate.py").is_file()  # no __init__.py there: a namespace package
    assert (lib / "tasks" / "fingerprints").is_dir() and any((lib / "tasks").glob("*.yaml"))
    assert any((lib / "leaderboard" / "results").rglob("*.json"))
    assert any((lib / "baselines" / "weights").rglob("*.safetensors"))
