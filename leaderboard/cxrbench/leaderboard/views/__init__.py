"""The leaderboard's pages: each module has `render(ctx)`; shared helpers live here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from cxrbench.leaderboard.frames import Filters
from cxrbench.leaderboard.tables import Tables


@dataclass
class Context:
    root: Path  # the store
    tables: Tables  # filtered by profile / budget / label set / eval sets
    pairwise: pd.DataFrame
    filters: Filters
    eval_sets: list[str]  # the selected eval sets, internal first
    palette: list[str] = field(default_factory=list)  # every entry in the store: one colour each, on every page


def download(df: pd.DataFrame, name: str, label: str = "Download CSV") -> None:
    """A CSV download button for the table a page shows."""
    st.download_button(label, df.to_csv(index=False).encode(), file_name=f"{name}.csv", mime="text/csv",
                       key=f"download-{name}")


def table(df: pd.DataFrame, name: str, **kwargs) -> None:
    """Show a table with 4-decimal AUROCs and a CSV download of exactly what is shown."""
    config = {c: st.column_config.NumberColumn(format="%.1f" if c.endswith("seconds") else "%.4f")
              for c in df.columns if df[c].dtype.kind == "f" and c not in ("p", "p_holm", "p_value")}
    config.update({c: st.column_config.NumberColumn(format="%.2g") for c in ("p", "p_holm", "p_value") if c in df})
    st.dataframe(df, hide_index=True, column_config=config, width="stretch", **kwargs)
    download(df, name)


def plain(text) -> str:
    """Submitter-written text shown as itself in Markdown (no links, emphasis or headings of its own)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", str(text))


def pick(label: str, values: list, key: str, index: int = 0):
    """A selectbox that tolerates an empty list (returns None)."""
    if not values:
        return None
    return st.selectbox(label, values, index=min(index, len(values) - 1), key=key)


def need(df: pd.DataFrame, what: str) -> bool:
    """False (with an info box) when a page has nothing to show under the current filters."""
    if df.empty:
        st.info(f"No {what} under the current filters.")
        return False
    return True
