"""fields.py: the record schema v2 contract (delta, ci, p, MDE, verdict, stars), and v1 records read through it."""

from types import SimpleNamespace

import pandas as pd
import pytest

from cxrbench.leaderboard import fields, frames
from cxrbench.leaderboard.tables import build_tables, record_rows
from leaderboard_fixtures import make_record


def v2(**kw):
    base = dict(eval_set="external:site-b", against="phantom/supplement-0", endpoint="secondary", delta=0.012,
                ci_low=-0.004, ci_high=0.028, p_value=0.14, mde=0.031, significant=False, verdict="inconclusive",
                stars="", method="m", labels=[])
    return SimpleNamespace(**{**base, **kw})


def test_v2_fields_are_read_as_the_contract_names_them():
    c = v2()
    assert fields.delta(c) == 0.012 and fields.ci(c) == (-0.004, 0.028) and fields.p_value(c) == 0.14
    assert fields.mde(c) == 0.031 and fields.verdict(c) == "inconclusive" and fields.verdict_words(c) == "inconclusive"
    assert fields.endpoint(c) == "secondary"
    assert fields.stars(v2(stars="**", p_value=0.3)) == "**"  # the record's stars, never recomputed
    row = fields.row(c)
    assert row["mde"] == 0.031 and row["verdict"] == "inconclusive" and row["endpoint"] == "secondary"


def test_v1_records_read_through_the_fallbacks():
    rec = make_record("phantom/supplement-100", "oracle")
    for c in rec.comparisons:
        assert fields.delta(c) is not None and None not in fields.ci(c) and fields.p_value(c) is not None
        assert fields.endpoint(c) == ("primary" if c.eval_set == "internal_test" else "secondary")
        assert fields.stars(c) == fields.stars_of(fields.p_value(c))


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
    assert list(df.columns[:8]) == frames.OVERVIEW_PRIMARY
    assert df["mde"].tolist() == pytest.approx([0.025, 0.025]) and set(df["verdict"]) == {"inconclusive"}
