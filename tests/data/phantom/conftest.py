"""Helpers for phantom tests: condition rows with chosen labels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrbench.schema import PATHOLOGIES


def condition_rows(n: int, labels: dict[str, float] | None = None, **fields) -> pd.DataFrame:
    """n identical condition rows: all labels blank except `labels`; demographics from `fields`."""
    row = {name: np.nan for name in PATHOLOGIES}
    row.update(labels or {})
    row.update({"age": 55.0, "sex": "M", "race": "White", "view": "PA", "site": "site-a"})
    row.update(fields)
    return pd.DataFrame([row] * n, columns=list(row))
