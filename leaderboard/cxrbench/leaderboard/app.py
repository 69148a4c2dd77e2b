"""The Streamlit leaderboard: `cxrbench leaderboard` (or `streamlit run` this file).

Reads the store named by $CXRBENCH_RESULTS (default: the shipped leaderboard/cxrbench/leaderboard/results/). Loading is
cached twice: on disk across runs (see loader.py) and in the server process per store state.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from cxrbench.leaderboard import frames
from cxrbench.leaderboard.loader import load_pairwise, load_tables, store_signature
from cxrbench.leaderboard.store import TRUSTED_KEYS_FILE, default_results_dir, pairwise_files
from cxrbench.leaderboard.views import Context, compare, cost, curves, details, overview, submission

PAGES = {
    "Overview": overview.render,
    "Δ vs real-only": curves.render_deltas,
    "Supplementation curve": curves.render_curve,
    "Synthetic-only vs real": curves.render_synthetic,
    "Cross-source": curves.render_cross_source,
    "Per-label": details.render_labels,
    "Subgroups": details.render_subgroups,
    "Generator audit": details.render_audit,
    "Compare two submissions": compare.render,
    "Utility vs cost": cost.render,
    "Submission": submission.render,
}
#: short names for ?page=... links
SLUGS = {"overview": "Overview", "delta": "Δ vs real-only", "curve": "Supplementation curve",
         "synthetic": "Synthetic-only vs real", "cross-source": "Cross-source", "labels": "Per-label",
         "subgroups": "Subgroups", "audit": "Generator audit", "compare": "Compare two submissions",
         "cost": "Utility vs cost", "submission": "Submission"}


@st.cache_resource(max_entries=4, show_spinner="Loading records…")
def _load(root: str, signature: str):
    tables = load_tables(Path(root))
    pairwise, warnings = load_pairwise(Path(root), tables.records)
    return tables, pairwise, warnings


@st.cache_data(ttl=5, show_spinner=False)
def _signature(root: Path) -> str:
    """Changes whenever a record, pairwise or trusted-keys file does; rescanned at most every 5 s (reruns are cheap)."""
    stamps = list(store_signature(root))
    stamps += [(p.as_posix(), p.stat().st_mtime_ns) for p in pairwise_files(root)]
    trusted = root / TRUSTED_KEYS_FILE
    stamps += [(trusted.as_posix(), trusted.stat().st_mtime_ns)] if trusted.is_file() else []
    return hashlib.sha256(repr(stamps).encode()).hexdigest()


def main() -> None:
    st.set_page_config(page_title="cxrbench leaderboard", layout="wide")
    root = default_results_dir()
    tables, pairwise, pair_warnings = _load(str(root), _signature(root))
    st.sidebar.title("cxrbench")
    slug = st.query_params.get("page")
    names = list(PAGES)
    page = st.sidebar.radio("Page", names, index=names.index(SLUGS.get(slug, "Overview")), key="page")
    if tables.skipped:
        st.warning(f"{len(tables.skipped)} record file(s) in the store were skipped (malformed or altered); "
                   "they are not shown anywhere.")
        with st.expander("Skipped records"):
            for rel, reason in tables.skipped:
                st.markdown(f"- `{rel}`: {reason}")
    for w in pair_warnings:
        st.warning(w)
    if tables.empty:
        st.title("cxrbench leaderboard")
        st.info(f"No published records in `{root}`. Run `cxrbench evaluate ...`, then "
                "`cxrbench publish RECORD.json` to add one.")
        return
    opts = frames.options(tables)
    # ?board=self-reported (a prefix of a board's name) opens on that board: links and screenshots
    wanted = str(st.query_params.get("board", "")).lower()
    first = next((i for i, name in enumerate(opts["board"]) if wanted and name.lower().startswith(wanted)), 0)
    board = st.sidebar.selectbox("Records", opts["board"], index=first, key="board", help=BOARD_HELP)
    st.sidebar.header("Filters")
    profile = st.sidebar.selectbox("Profile", opts["profile"], key="profile")
    budget = st.sidebar.selectbox("Budget", opts["budget"], key="budget")
    label_set = st.sidebar.selectbox("Label set", opts["label_set"], key="label_set")
    eval_sets = st.sidebar.multiselect("Eval sets", opts["eval_set"], default=opts["eval_set"], key="eval_sets")
    search = st.sidebar.text_input("Search submissions", key="search", placeholder="name, e.g. ddpm",
                                   help="Shows only submissions whose name@version contains this text.")
    filters = frames.Filters(board=board, profile=profile, budget=budget, label_set=label_set,
                             eval_sets=tuple(eval_sets), search=search.strip() or None)
    st.sidebar.caption(f"{len(tables.records)} published records", help=f"store: {root}")
    ctx = Context(root=root, tables=frames.apply_filters(tables, filters), pairwise=pairwise,
                  filters=filters, eval_sets=frames.eval_set_order(eval_sets), palette=frames.entries(tables))
    _board_banner(board, tables)
    _isolation_banner(ctx.tables.records)
    PAGES[page](ctx)


BOARD_HELP = ("Verified: scored on held-out eval sets by an evaluator whose signing key this leaderboard "
              "trusts; ranked only against records of the same key. Self-reported: everything else (the public "
              "dev sets anyone can reproduce, unsigned records, keys not trusted here); never ranked with verified "
              "records. See docs/verification.md.")


def _board_banner(board: str, tables) -> None:
    """Every page says which board it shows, so a self-reported number never reads as a verified one."""
    rows = tables.records[tables.records["board"] == board]
    if rows.empty:
        return
    if (rows["standing"] == "verified").all():
        st.success(f"**{board}**: held-out test patients that no submission could see or recompute, scored and "
                   "signed by a trusted evaluator. Ranked only against records of the same key.")
    else:
        reasons = "; ".join(sorted(set(rows["standing_reason"])))
        st.warning(f"**{board}**: self-reported ({reasons}). Not verified, and never ranked with verified "
                   "records." + (" Dev sets are public: anyone can reproduce them, and so can a submission."
                                 if (rows["population"] == "dev").all() else ""))


def _isolation_banner(records) -> None:
    """Every page that may show a record whose code ran without the sandbox names its entries."""
    entries = sorted(set(records.loc[~records["isolated"].astype(bool), "entry"]))
    if entries:
        st.warning(f"Isolation mode: none for {', '.join(entries)}: run with --unsafe-no-sandbox, so the "
                   "submission's code could read and change anything on the machine that scored it.")


if __name__ == "__main__":  # streamlit runs this file as __main__; importing it renders nothing
    main()
