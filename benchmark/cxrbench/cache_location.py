"""Where cxrbench caches things: one environment variable, `CXRBENCH_CACHE`, for every cache (stage
entries, decoded pixels under `images/`, the leaderboard's parsed tables under `leaderboard/`).

`CXRBENCH_CACHE_DIR`, the leaderboard's old variable, is read for one more release, with a warning.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

CACHE_ENV = "CXRBENCH_CACHE"
DEPRECATED_CACHE_ENV = "CXRBENCH_CACHE_DIR"
#: the cache root when the environment names none: a folder in the working directory
DEFAULT_CACHE = ".cxrbench-cache"


def cache_from_env() -> Path | None:
    """The cache root the environment names, or None."""
    if value := os.environ.get(CACHE_ENV):
        return Path(value)
    if value := os.environ.get(DEPRECATED_CACHE_ENV):
        warnings.warn(f"{DEPRECATED_CACHE_ENV} is deprecated and will be removed in the next release: "
                      f"set {CACHE_ENV} instead", FutureWarning, stacklevel=2)
        return Path(value)
    return None


def default_cache_root() -> Path:
    """`$CXRBENCH_CACHE`, else `.cxrbench-cache` in the working directory."""
    return cache_from_env() or Path(DEFAULT_CACHE)
