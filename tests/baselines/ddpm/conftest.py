"""Fixtures for the DDPM tests; helpers live in ddpm_helpers.py."""

import pytest
import torch

from .ddpm_helpers import random_model


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models on a shared 2-core machine: a second OpenMP thread mostly waits (10-50x slower
    # under load). Restored afterwards so other areas' tests are unaffected.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def micro_model():
    return random_model()
