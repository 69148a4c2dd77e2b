"""`cxrbench audit --features rad-dino | xrv-densenet` end to end on the phantom, with tiny random-weight models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))
from tiny_spaces import tiny_rad_dino, tiny_xrv_densenet  # noqa: E402

from cxrbench.cli import app  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("space", ["rad-dino", "xrv-densenet"])
def test_audit_cli_in_a_real_data_space(space, tiny_tasks, tmp_path):
    from cxrbench.submissions.bwrap import unavailable_reason

    if (why := unavailable_reason()) is not None:
        pytest.skip(f"the audit runs the submission under bubblewrap: {why}")
    pytest.importorskip("transformers" if space == "rad-dino" else "torchxrayvision")
    weights = (tiny_rad_dino if space == "rad-dino" else tiny_xrv_densenet)(tmp_path / space)
    out = tmp_path / "audit"
    result = CliRunner().invoke(app, ["audit", str(REPO / "submissions" / "phantom-oracle"), "-t", "tiny/supplement-100",
                                      "--out", str(out), "--cache", str(tmp_path / "cache"), "--features", space,
                                      "--feature-weights", str(weights)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "audit.json").read_text())
    assert report["space"]["name"] == space and report["feature_space"].startswith(f"{space}@")
    assert len(report["space"]["weights_sha256"]) == 64 and report["fidelity"]["space"] == report["feature_space"]
    # adherence: the phantom classifier beside RAD-DINO (no head); torchxrayvision's own head otherwise
    labels = report["adherence"]["classifier_labels"]
    assert ("Infiltration" not in labels and "Pleural Effusion" in labels)
    assert (len(labels) == 14) == (space == "rad-dino")


def test_missing_space_weights_stop_the_audit_in_one_line(tiny_tasks, tmp_path, monkeypatch):
    monkeypatch.setenv("CXRBENCH_FEATURES_DIR", str(tmp_path / "nothing"))
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.evaluate import RunOptions, TaskRun
    from cxrbench.submissions import load_submission
    from cxrbench.tasking import get_task

    run = TaskRun(load_submission(REPO / "submissions" / "phantom-oracle"), get_task("tiny/supplement-100"),
                  RunOptions(audit_features="rad-dino"), Cache(tmp_path / "cache"))
    from cxrbench.runner.plan import Plan

    conditioning = run._real(run.task.conditions_from)
    run.plan_audit(Plan(), "replica-key", conditioning, {})
    assert run.audit_skipped.startswith("feature space 'rad-dino': no weights in ")
