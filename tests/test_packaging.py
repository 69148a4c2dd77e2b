"""The install layout: four top-level folders hold one import package as PEP 420 namespace roots."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cxrbench import schema
from cxrbench.errors import SchemaError

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("benchmark", "baselines", "leaderboard", "tasks")  # each holds a cxrbench/ folder


def test_every_package_folder_is_importable():
    """Every folder with an __init__.py imports under the name of its path below its root."""
    import importlib

    for root in ROOTS:
        for init in (REPO / root / "cxrbench").rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / root)
            module = importlib.import_module(".".join(rel.parts))
            assert Path(module.__file__).resolve() == init.resolve()


def test_cxrbench_is_a_namespace_in_every_root():
    """No cxrbench/__init__.py: static tools merge the four roots only for a PEP 420 namespace."""
    import cxrbench

    assert not any((REPO / root / "cxrbench" / "__init__.py").exists() for root in ROOTS)
    assert {str(Path(p).resolve()) for p in cxrbench.__path__ if Path(p).is_dir()} >= {str(REPO / "benchmark" / "cxrbench")}


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
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
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
    assert (lib / "baselines" / "ddpm" / "normal_quantiles.safetensors").is_file()  # the counter noise's table
