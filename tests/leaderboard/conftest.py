"""Fixtures for the leaderboard tests: fake stores built from tests/leaderboard/leaderboard_fixtures.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from leaderboard_fixtures import fill_store, make_record, study_records

APP = Path(__file__).resolve().parents[2] / "leaderboard" / "cxrbench" / "leaderboard" / "app.py"


@pytest.fixture(scope="session")
def study_store_template(tmp_path_factory) -> Path:
    """The fixture study (4 generators × 14 tasks, quick budget, all14) plus two standard-budget
    competition5 records, written once per test run."""
    extra = [make_record(t, "reference-ddpm", budget="standard", label_set="competition5")
             for t in ("phantom/supplement-0", "phantom/supplement-100")]
    return fill_store(tmp_path_factory.mktemp("template") / "results", study_records() + extra)


@pytest.fixture
def store(study_store_template, tmp_path, monkeypatch) -> Path:
    """A private copy of the study store, which the app is pointed at through the environment."""
    root = Path(shutil.copytree(study_store_template, tmp_path / "results"))
    monkeypatch.setenv("CXRBENCH_RESULTS", str(root))
    monkeypatch.setenv("CXRBENCH_CACHE", str(tmp_path / "cache"))
    return root


@pytest.fixture
def app_test(store):
    """A factory for AppTest runs on `store` (optionally on one page via ?page=...)."""
    from streamlit.testing.v1 import AppTest

    def run(page: str | None = None):
        at = AppTest.from_file(str(APP), default_timeout=60)
        if page:
            at.query_params["page"] = page
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.get("download_button"), "every page offers its table as CSV"
        return at

    return run
