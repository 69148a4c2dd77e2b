"""Shared fixtures. Tests that read ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Property tests are derandomized by default, so a CI run is reproducible and a red CI names a
# real, repeatable failure. `HYPOTHESIS_PROFILE=explore make test` searches with fresh random
# examples (and more of them) to hunt for new counterexamples.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real CheXpert metadata and paper split lists; skips the test when absent."""
    if not (SHARED_DATA / "metadata" / "chexpert_train.csv.gz").exists():
        pytest.skip("../shared/data is absent (real CheXpert metadata not available here)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Every test runs torch on one thread (as `make test` sets OMP_NUM_THREADS=1): the models
    under test are tiny, and on a shared 2-core machine a second thread mostly waits (measured
    10-50x slower under load). Restored afterwards."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
