"""Every test in tests/perf is a pytest-benchmark suite: marked `perf`, run by `make bench` (the
heavy ones, the Ray scale-out and the full-size cases, marked `scale` as well, by `make bench-scale`). The sampler suites' tables are
printed last (`sampler_table.py`)."""

import pytest
from sampler_table import SUITES, format_table


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/perf" in str(item.fspath):
            item.add_marker(pytest.mark.perf)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter):
    """One sampler table per device, after pytest-benchmark's time columns: the answer, last on screen."""
    for info in SUITES:
        terminalreporter.write_sep("=", "sampler timing")
        for line in format_table(info):
            terminalreporter.write_line(line)
