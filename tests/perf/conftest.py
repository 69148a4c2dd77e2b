"""Every test in tests/perf is a pytest-benchmark suite: marked `perf`, run by `make bench`."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/perf" in str(item.fspath):
            item.add_marker(pytest.mark.perf)
