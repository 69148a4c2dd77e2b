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


#: columns a reader needs to answer "which generator helps, by how much, how sure": always on the left,
#: pinned there when a table scrolls sideways
PINNED = ("task", "rank", "entry", "label", "eval_set", "group", "delta", "delta_ci_low", "delta_ci_high", "p",
          "p_holm", "marker", "verdict")
P_VALUES = ("p", "p_holm", "p_value")


def is_count(column: str) -> bool:
    """Columns that hold counts (images, patients, labels, ranks): shown as integers, never `1902.0000`."""
    return (column in ("n", "n_pos", "records", "ratio", "rank_best", "rank_worst", "n_seeds")
            or column.startswith("n_") or column.endswith("_images"))


def table(df: pd.DataFrame, name: str, main: list[str] | None = None, number_format: str | None = None,
          **kwargs) -> None:
    """Show a table (4-decimal AUROCs, integer counts, the `PINNED` columns first and pinned) and a CSV
    download of exactly what is shown. `main`: only those columns (chosen to fit 1,400 px without
    scrolling sideways), and every column under an "All columns" expander below. `number_format`:
    one format for every other number (a table whose rows, not columns, hold one quantity each)."""
    if main is not None:
        table(df[[c for c in main if c in df.columns]], name, number_format=number_format, **kwargs)
        with st.expander("All columns"):
            table(df, f"{name}-all", number_format=number_format, **kwargs)
        return
    first = [c for c in df.columns if c in PINNED]
    df = df[first + [c for c in df.columns if c not in PINNED]]
    config: dict = {}
    for c in df.columns:
        if is_count(c) and df[c].dtype.kind in "fiu":
            fmt = "%d"
        elif c in P_VALUES:
            fmt = "%.2g"
        elif number_format and df[c].dtype.kind in "fiu":
            fmt = number_format
        elif df[c].dtype.kind == "f":
            fmt = "%.1f" if c.endswith(("seconds", "per_second")) else "%.4f"  # times and rates: 0.1 is enough
        else:
            fmt = None
        config[c] = (st.column_config.NumberColumn(format=fmt, pinned=c in first) if fmt
                     else st.column_config.Column(pinned=c in first))
    st.dataframe(df, hide_index=True, column_config=config, width="stretch", **kwargs)
    download(df, name)


def plain(text) -> str:
    """Submitter-written text shown as itself in Markdown (no links, emphasis or headings of its own)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", str(text))


def code(text) -> str:
    """Submitter-written text as a Markdown code span (shown verbatim: no backslash escapes inside one)."""
    return "`" + str(text).replace("`", "'") + "`"


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
