"""A tiny phantom task family (a few dozen patients, one seed) so the whole pipeline runs in seconds."""

from pathlib import Path

import pytest

import cxrbench.tasking as tasking

TINY = """
name: tiny/supplement
version: 1
family: supplement
description: tiny end-to-end task for tests
profile: phantom
ratios: [0, 100, 200]
real_train: {source: phantom, site: site-a, split: train}
conditions_from: {source: phantom, site: site-a, split: train}
val: {source: phantom, site: site-a, split: val}
eval_sets:
  internal_test: {source: phantom, site: site-a, split: test}
  external:site-b: {source: phantom, site: site-b, split: test}
label_set: competition5
train_uncertainty: zeros
# a few dozen test patients: the eligibility bar is lowered so that some labels enter the macro
eligibility: {min_positive_patients: 3, min_negative_patients: 3}
budgets:
  quick: {image_size: 32, recipe: quick, seeds: [0, 1], n_patients: 120,
          generator_timeout_s: 120, classifier_timeout_s: 120}
  standard: {image_size: 32, recipe: quick, seeds: [0, 1, 2], n_patients: 120}
"""

CLASSIFY = TINY.replace("name: tiny/supplement", "name: tiny/classify").replace("family: supplement", "family: real_only") \
    .replace("ratios: [0, 100, 200]", "ratios: [0]").replace(
        "conditions_from: {source: phantom, site: site-a, split: train}", "conditions_from: null")


def _use_tiny_tasks(folder: Path, monkeypatch):
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    (folder / "tiny-classify.yaml").write_text(CLASSIFY)
    tasking.load_tasks.cache_clear()
    real = tasking.load_tasks
    monkeypatch.setattr(tasking, "load_tasks", lambda folder_=None: real(str(folder)))
    return real


@pytest.fixture
def tiny_tasks(tmp_path, monkeypatch):
    real = _use_tiny_tasks(tmp_path / "tasks", monkeypatch)
    yield tmp_path / "tasks"
    real.cache_clear()


@pytest.fixture(scope="module")
def tiny_tasks_module(tmp_path_factory):
    """`tiny_tasks` for a whole module (tests that share one expensive reference run)."""
    folder = tmp_path_factory.mktemp("tiny") / "tasks"
    with pytest.MonkeyPatch.context() as mp:
        real = _use_tiny_tasks(folder, mp)
        yield folder
    real.cache_clear()


@pytest.fixture
def run_opts(tmp_path):
    from cxrbench.runner.evaluate import RunOptions
    from cxrbench.submissions.bwrap import unavailable_reason

    # These tests are about the runner; without bubblewrap (a CI machine lacking the Debian package)
    # they run submission code unsandboxed, as `--unsafe-no-sandbox` would. Isolation itself is
    # tested in tests/submissions/test_hostile.py and tests/runner/test_isolation.py, which skip there.
    return RunOptions(budget="quick", out_dir=tmp_path / "runs", cache_root=tmp_path / "cache", profile="phantom",
                      unsafe_no_sandbox=unavailable_reason() is not None)


REPO = Path(__file__).resolve().parents[2]
