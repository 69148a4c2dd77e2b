"""The CLI tests render commands' output as a user sees it (a terminal of a given width)."""

import sys
from pathlib import Path

# the leaderboard tests' fake records, for tables that show complete records
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "leaderboard"))
