"""A real browser: the app served on localhost, rendered by headless Chromium (Debian's `chromium`)."""

import os
import shutil
from pathlib import Path

import pytest

from cxrbench.leaderboard.screenshot import CHROMIUM, chromium, serve
from cxrbench.leaderboard.store import record_path
from leaderboard_fixtures import make_record, tamper

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install -y chromium)")

REPO = Path(__file__).resolve().parents[2]


def test_app_renders_tables_and_charts_in_chromium(store, tmp_path):
    """Overview shows its table (and a warning for one tampered record, not an exception box); the
    curve page shows its chart. With CXRBENCH_UPDATE_SCREENSHOTS=1 the screenshots are also written
    to docs/img/ for the README (there without the tampered record)."""
    update = bool(os.environ.get("CXRBENCH_UPDATE_SCREENSHOTS"))
    if not update:
        tamper(record_path(store, make_record("phantom/supplement-300", "noise")))
    with serve(store, cache_dir=tmp_path / "cache") as url:
        dom, state = chromium(url, screenshot=tmp_path / "overview.png")
        assert state["tables"] >= 1 and state["exceptions"] == 0, state
        assert 'data-testid="stDataFrame"' in dom and 'data-testid="stException"' not in dom
        assert "Overview" in dom and "Traceback" not in dom
        if not update:
            assert "1 record file(s) in the store were skipped" in dom
        dom, state = chromium(f"{url}/?page=curve", screenshot=tmp_path / "curve.png")
        assert state["charts"] >= 1 and state["tables"] >= 1 and state["exceptions"] == 0, state
        assert "Supplementation curve" in dom
    for name in ("overview", "curve"):
        png = (tmp_path / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a real, non-blank page
        if update:
            target = REPO / "docs" / "img" / ("leaderboard.png" if name == "overview" else f"leaderboard-{name}.png")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / f"{name}.png", target)
