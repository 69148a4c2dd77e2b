"""Fixtures for the DDPM tests; helpers live in ddpm_helpers.py."""

import pytest

from .ddpm_helpers import random_model


@pytest.fixture(scope="module")
def micro_model():
    return random_model()
