"""Shared fixtures. Tests that read ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real CheXpert metadata and paper split lists; skips the test when absent."""
    if not (SHARED_DATA / "metadata" / "chexpert_train.csv.gz").exists():
        pytest.skip("../shared/data is absent (real CheXpert metadata not available here)")
    return SHARED_DATA
