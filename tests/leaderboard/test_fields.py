"""fields.py: the record schema v2 contract (delta, ci, p, MDE, verdict, stars) as the pages read it."""

from types import SimpleNamespace

import pandas as pd
import pytest
from leaderboard_fixtures import make_record

from cxrbench.leaderboard import fields, frames
from cxrbench.leaderboard.tables import build_tables, record_rows


def v2(**kw):
    base = dict(eval_set="external:site-b", against="phantom/supplement-0", endpoint="secondary", delta=0.012,
                ci_low=-0.004, ci_high=0.028, p_value=0.14, mde=0.031, significant=False, verdict="inconclusive",
                stars="", method="m", labels=[])
    return SimpleNamespace(**{**base, **kw})


def test_rows_carry_the_records_own_numbers():
    c = v2(stars="**", p_value=0.3)  # the record's stars, never recomputed
    row = fields.row(c)
    assert row["mde"] == 0.031 and row["verdict"] == "inconclusive" and row["endpoint"] == "secondary"
    assert row["delta"] == 0.012 and (row["ci_low"], row["ci_high"]) == (-0.004, 0.028) and row["stars"] == "**"
    assert fields.verdict_words(v2(verdict="no_detectable_difference")) == "no detectable difference"


def test_overview_shows_mde_and_inconclusive_verdicts():
    recs = [make_record("phantom/supplement-100", g) for g in ("oracle", "noise")]
    rows = {}
    for i, r in enumerate(recs):
        for name, part in record_rows(r, f"r{i}.json").items():
            rows.setdefault(name, []).extend(part)
    tables = build_tables(rows)
    comp = tables.comparisons
    internal = comp["eval_set"] == "internal_test"
    tables.comparisons = comp.assign(mde=0.025, verdict=comp["verdict"].where(~internal, "inconclusive"))
    df, _ = frames.overview(tables, pd.DataFrame(columns=["task"]), "supplement", "internal_test")
    assert list(df.columns[:len(frames.OVERVIEW_PRIMARY)]) == frames.OVERVIEW_PRIMARY
    assert df["mde"].tolist() == pytest.approx([0.025, 0.025]) and set(df["verdict"]) == {"inconclusive"}


def _tables(recs):
    rows = {}
    for i, r in enumerate(recs):
        for name, part in record_rows(r, f"r{i}.json").items():
            rows.setdefault(name, []).extend(part)
    return build_tables(rows)


def _declare(record, patients: int | None, group: str | None, task_patients: int = 712):
    from cxrbench.training_population import TrainingSource

    s = record.submission
    s.training_population = [TrainingSource(data="phantom/site-a/train", patients=patients, population=5000)] \
        if patients else []
    s.declared_training_data = ["phantom/site-a/train"] if patients else []
    s.real_patients, s.task_real_patients, s.data_group = patients, task_patients, group
    return record.seal()


def test_more_real_data_is_ranked_apart_and_every_row_says_what_it_learned_from():
    recs = [_declare(make_record("phantom/supplement-100", "oracle"), None, "no real data"),
            _declare(make_record("phantom/supplement-100", "reference-ddpm"), 3561, "more real data"),
            _declare(make_record("phantom/supplement-100", "noise"), 712, "task rows")]
    df, methods = frames.overview(_tables(recs), pd.DataFrame(columns=["task"]), "supplement", "internal_test")
    by_entry = df.set_index("entry")
    assert by_entry.loc["reference-ddpm@1.0", "group"] == "more real data"
    assert by_entry.loc["reference-ddpm@1.0", "rank"] == "1"  # ranked alone, not against the oracle
    assert list(df["entry"])[-1] == "reference-ddpm@1.0"  # after the main group
    assert set(by_entry.loc[["oracle@1.0", "noise@1.0"], "rank"]) <= {"1", "2", "1–2"}
    assert by_entry.loc["reference-ddpm@1.0", "trained_on"] == "3,561 patients (more real data; task rows: 712)"
    assert by_entry.loc["noise@1.0", "trained_on"] == "712 patients of the task's 712 (task rows)"
    assert by_entry.loc["oracle@1.0", "trained_on"] == "no real data"
    # a task that ranks them together: one group
    recs[1].task.more_real_data = "together"
    df, _ = frames.overview(_tables([r.seal() for r in recs]), pd.DataFrame(columns=["task"]), "supplement",
                            "internal_test")
    assert set(df["group"]) == {""}


def test_an_older_record_shows_its_declared_keys():
    rec = make_record("phantom/supplement-100", "noise")  # declares a key, no count (as schema 3 did)
    assert fields.training_population(rec) == {"trained_on": "phantom/site-a/train (patients not declared)",
                                               "data_group": "", "rank_group": ""}


def test_compare_methods_are_one_line_naming_each_eval_sets_label_count():
    from cxrbench.leaderboard.compare_frames import methods

    text = "t-test; paired seeds (8 vs 8); macro over the {} labels with ≥ 20 positive; Holm"
    comps = [SimpleNamespace(eval_set="internal_test", method=text.format(12)),
             SimpleNamespace(eval_set="external:site-b", method=text.format(13)),
             SimpleNamespace(eval_set="external:site-c", method=None),
             SimpleNamespace(eval_set="external:site-d", method="another procedure")]
    assert methods(comps) == [
        "t-test; paired seeds (8 vs 8); macro over the eligible labels (internal_test 12, external:site-b 13) "
        "with ≥ 20 positive; Holm",
        "another procedure"]


def test_a_verdict_without_a_test_shows_its_reason_on_the_leaderboard():
    """Too few seeds: the record's reason travels with its verdict to every page (one computation)."""
    from cxrbench.leaderboard import compare_frames

    reason = "too few seeds (2); use ≥ 3, ≥ 5 for per-label tests"
    rec = make_record("phantom/supplement-100", "oracle")
    for c in rec.comparisons:
        c.p_value, c.ci_low, c.ci_high, c.mde, c.verdict, c.verdict_reason = None, None, None, None, "inconclusive", reason
    rows = record_rows(rec, "r.json")
    tables = build_tables(rows)
    df = frames.with_deltas(tables)
    assert set(df.loc[df["delta"].notna(), "verdict"]) == {f"inconclusive: {reason}"}
    assert set(df.loc[df["delta"].notna(), "marker"]) == {""}
    shown = compare_frames.eval_set_table(rec.comparisons)
    assert set(shown["verdict"]) == {f"inconclusive: {reason}"} and shown["stars"].eq("").all()
