"""Smoke tests of the release tools in tools/ (each run as a user runs it, on small inputs, or its
building function checked against the shipped file).
tools/derive_phantom_stats.py is checked by tests/data/phantom/test_population.py (it needs the
real CheXpert metadata)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "tools" / name), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, check=True)


def _load(tool: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(tool, REPO / "tools" / f"{tool}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nih_release_digests_are_the_shipped_ones():
    pytest.importorskip("torchxrayvision", reason="the NIH CSV the tool reads ships with torchxrayvision")
    from cxrbench.data.sources.nih import RELEASES_FILE

    tool = _load("nih_release_digests")
    assert tool.build(tool.bundled_csv()) == json.loads(RELEASES_FILE.read_text())


def test_normal_quantiles_nodes_are_the_shipped_ones():
    """A few nodes of the table (the whole table takes a minute or two of mpmath: the slow test below)."""
    from safetensors.torch import load_file

    from cxrbench.baselines.ddpm.noise import QUANTILES_FILE

    tool = _load("normal_quantiles")
    shipped = load_file(QUANTILES_FILE)["magnitude"]
    for octave, node in ((0, 0), (5, 17), (20, 64), (32, 1), (32, 64)):
        assert tool.node_value(octave, node) == int(shipped[octave, node]), (octave, node)


@pytest.mark.slow
def test_normal_quantiles_remakes_the_shipped_table(tmp_path):
    from safetensors.torch import load_file

    from cxrbench.baselines.ddpm.noise import QUANTILES_FILE

    _tool("normal_quantiles.py", "--out", str(tmp_path / "q.safetensors"))
    made, shipped = load_file(tmp_path / "q.safetensors"), load_file(QUANTILES_FILE)
    assert made.keys() == shipped.keys() and all((made[k] == shipped[k]).all() for k in made)


def test_train_audit_features_writes_weights_and_provenance(tmp_path):
    _tool("train_audit_features.py", "--n-patients", "60", "--max-epochs", "1", "--version", "smoke",
          "--out", str(tmp_path))
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    assert (tmp_path / "model.safetensors").is_file() and provenance["version"] == "smoke"
    assert provenance["feature_dim"] == 256 and provenance["data"]["n_patients"] == 60


def test_gpu_check_runs_without_cuda(tmp_path):
    out = tmp_path / "gpu-check.json"
    _tool("gpu_check.py", "--out", str(out), "--stages", "environment,gpu_tests,sampler_benchmark", "--budget", "120")
    summary = json.loads(out.read_text())
    assert set(summary["stages"]) == {"environment", "gpu_tests", "sampler_benchmark"}
    if not summary["stages"]["environment"]["cuda"]:
        assert summary["result"].startswith("ok (no CUDA")
        assert summary["stages"]["gpu_tests"] == {"status": "no CUDA"}
