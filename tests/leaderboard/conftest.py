"""Fixtures for the leaderboard tests: fake stores built from tests/leaderboard/leaderboard_fixtures.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard_fixtures import fill_store, study_records

APP = Path(__file__).resolve().parents[2] / "leaderboard" / "app.py"


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """A store holding the fixture study (4 generators × 14 tasks, quick budget), pointed at by the env."""
    root = fill_store(tmp_path / "results", study_records())
    monkeypatch.setenv("CXRBENCH_RESULTS", str(root))
    monkeypatch.setenv("CXRBENCH_CACHE_DIR", str(tmp_path / "cache"))
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
        return at

    return run
