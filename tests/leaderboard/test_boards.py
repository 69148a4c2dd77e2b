"""Verified and self-reported records apart: standing from the store's trusted keys, one board per
eval population, never ranked together."""

from __future__ import annotations

from pathlib import Path

import pytest
from leaderboard_fixtures import make_record

from cxrbench.leaderboard import frames
from cxrbench.leaderboard.loader import load_tables
from cxrbench.leaderboard.store import record_path
from cxrbench.leaderboard.trusted_keys import add_trusted
from cxrbench.results import Evaluation, write_record
from cxrbench.trust.keys import new_key

TASKS = ("phantom/supplement-0", "phantom/supplement-100")
VERIFIED = "Verified · held-out sets of the evaluator"
DEV = "Self-reported · public dev sets"


def _held_out(record, key):
    record.evaluation = Evaluation(eval_sets="held-out", evaluator_key=key.fingerprint)
    return record


@pytest.fixture
def keyed_store(tmp_path, monkeypatch):
    """oracle and noise on held-out sets signed by a trusted key; the same entries on dev sets
    (unsigned); reference-ddpm held out by an untrusted key."""
    trusted, stranger = new_key(tmp_path / "trusted.key"), new_key(tmp_path / "stranger.key")
    root = tmp_path / "results"
    for task in TASKS:
        for gen in ("oracle", "noise"):
            rec = _held_out(make_record(task, gen), trusted)
            write_record(rec, record_path(root, rec), signer=trusted)
            dev = make_record(task, gen)
            write_record(dev, record_path(root, dev))
        rec = _held_out(make_record(task, "reference-ddpm"), stranger)
        write_record(rec, record_path(root, rec), signer=stranger)
    add_trusted(root, trusted.public_key_b64, "the evaluator")
    monkeypatch.setenv("CXRBENCH_RESULTS", str(root))
    monkeypatch.setenv("CXRBENCH_CACHE", str(tmp_path / "cache"))
    return root, trusted, stranger


def test_standing_and_boards_from_the_trusted_keys(keyed_store):
    root, trusted, stranger = keyed_store
    tables = load_tables(root, cache_dir=False)
    by = tables.records.groupby("board")["entry"].apply(set).to_dict()
    stranger_board = f"Self-reported · held-out sets of key {stranger.fingerprint}"
    assert by == {VERIFIED: {"oracle@1.0", "noise@1.0"}, DEV: {"oracle@1.0", "noise@1.0"},
                  stranger_board: {"reference-ddpm@1.0"}}
    assert frames.options(tables)["board"] == [VERIFIED, DEV, stranger_board]
    reasons = set(tables.records.loc[tables.records["board"] == stranger_board, "standing_reason"])
    assert reasons == {f"signed by key {stranger.fingerprint}, which this leaderboard does not trust"}
    # the overview of one board ranks only its own records
    one = frames.apply_filters(tables, frames.Filters(board=VERIFIED))
    df, _ = frames.overview(one, _no_pairs(), "supplement", "internal_test")
    assert set(df["entry"]) == {"oracle@1.0", "noise@1.0"} and len(df) == 2
    # trust is the store's to give: without the file nothing is verified, with no cache to go stale
    (root / "trusted_keys.json").unlink()
    assert set(load_tables(root).records["standing"]) == {"self-reported"}


def _no_pairs():
    import pandas as pd

    from cxrbench.leaderboard.loader import PAIRWISE_COLUMNS

    return pd.DataFrame(columns=list(PAIRWISE_COLUMNS))


def test_a_resealed_edit_of_a_signed_record_is_skipped(keyed_store):
    root, trusted, _ = keyed_store
    path = next(p for p in root.rglob("oracle@1.0.json") if "held-out" in str(p))
    from cxrbench.results import read_record

    rec = read_record(path)
    rec.eval_sets[0].macro_auroc = 0.99
    rec.seal()
    path.write_text(rec.to_json())
    tables = load_tables(root, cache_dir=False)
    reason = dict(tables.skipped)[path.relative_to(root).as_posix()]
    assert f"signature by key {trusted.fingerprint} does not verify" in reason and "`eval_sets`" in reason


def test_app_shows_one_board_at_a_time_and_says_which(keyed_store):
    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parents[2] / "leaderboard" / "cxrbench" / "leaderboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="board").value == VERIFIED
    assert any(VERIFIED in s.value for s in at.success)
    assert set(at.dataframe[0].value["entry"]) == {"oracle@1.0", "noise@1.0"}
    at.sidebar.selectbox(key="board").set_value(DEV).run()
    assert any(DEV in w.value and "never ranked with verified" in w.value for w in at.warning)
    assert not at.success
    linked = AppTest.from_file(str(app), default_timeout=60)
    linked.query_params["board"] = "self-reported"  # a link (or a screenshot) opens on the board it names
    linked.run()
    assert not linked.exception and linked.sidebar.selectbox(key="board").value == DEV
