import json

import pytest
from leaderboard_fixtures import fill_store, make_record, tamper

from cxrbench.leaderboard import loader
from cxrbench.leaderboard.loader import load_tables
from cxrbench.leaderboard.store import record_files, record_path


@pytest.fixture
def small(tmp_path):
    recs = [make_record("phantom/supplement-0", g) for g in ("noise", "oracle")] + \
           [make_record("phantom/supplement-100", g) for g in ("noise", "oracle")]
    return fill_store(tmp_path / "res", recs), recs


def test_layout_one_file_per_task_budget_submission(small):
    root, recs = small
    assert record_path(root, recs[2]).relative_to(root).as_posix() == "phantom/quick/supplement-100@1/noise@1.0.json"
    assert len(record_files(root)) == 4


def test_tables_hold_every_section(small, tmp_path):
    root, recs = small
    t = load_tables(root, cache_dir=tmp_path / "c")
    assert len(t.records) == 4 and not t.skipped
    assert len(t.evals) == 4 * 3 and len(t.labels) == 4 * 3 * 14
    assert len(t.comparisons) == 2 * 3  # only the ratio-100 records have a baseline comparison
    r = recs[3]
    row = t.evals[(t.evals["file"] == "phantom/quick/supplement-100@1/oracle@1.0.json")
                  & (t.evals["eval_set"] == "external:site-b")].iloc[0]
    assert row["macro_auroc"] == pytest.approx(r.macro("external:site-b"))
    lab = t.labels[(t.labels["file"] == "phantom/quick/supplement-100@1/oracle@1.0.json")
                   & (t.labels["eval_set"] == "internal_test") & (t.labels["label"] == "Edema")].iloc[0]
    assert lab["delta"] == pytest.approx(r.comparisons[0].labels[5].delta)
    metrics = set(t.audit["metric"])
    assert {"fidelity.frechet_distance", "leakage_flag", "memorization[pixels-32@1].share_close"} <= metrics
    assert not {m for m in metrics if m.startswith(("config", "seconds")) or "per_finding" in m or "tolerance" in m}


def test_tampered_and_malformed_files_are_skipped_with_reason(small, tmp_path):
    root, recs = small
    tamper(record_path(root, recs[0]))
    bad = record_path(root, recs[1])
    bad.write_text("{not json")
    wrong = root / "phantom" / "quick" / "supplement-0@1" / "wrong@1.json"
    wrong.write_text(json.dumps({"schema_version": 2, "status": "complete"}))
    t = load_tables(root, cache_dir=tmp_path / "c")
    reasons = dict(t.skipped)
    assert len(t.records) == 2
    assert "altered" in reasons["phantom/quick/supplement-0@1/noise@1.0.json"]
    assert "not valid JSON" in reasons["phantom/quick/supplement-0@1/oracle@1.0.json"]
    assert "task" in reasons["phantom/quick/supplement-0@1/wrong@1.json"]


def test_cache_rereads_only_changed_files(small, tmp_path, monkeypatch):
    root, recs = small
    cache = tmp_path / "c"
    first = load_tables(root, cache_dir=cache)
    calls = []
    real = loader.read_verified
    monkeypatch.setattr(loader, "read_verified", lambda p: calls.append(p) or real(p))
    warm = load_tables(root, cache_dir=cache)
    assert calls == [] and len(warm.labels) == len(first.labels)
    # a new record: only it is parsed; an edit: the file is re-verified and now skipped
    fill_store(root, [make_record("phantom/supplement-100", "reference-ddpm")])
    tamper(record_path(root, recs[0]))
    t = load_tables(root, cache_dir=cache)
    assert sorted(p.name for p in calls) == ["noise@1.0.json", "reference-ddpm@1.0.json"]
    assert len(t.records) == 4 and len(t.skipped) == 1
    assert t.labels.groupby("file").size().eq(42).all()  # no duplicated rows from the merge
    # a deleted record disappears; the skipped one stays skipped without re-reading
    record_path(root, recs[3]).unlink()
    calls.clear()
    t = load_tables(root, cache_dir=cache)
    assert calls == [] and len(t.records) == 3 and len(t.skipped) == 1


def test_corrupt_cache_is_rebuilt(small, tmp_path):
    root, _ = small
    cache = tmp_path / "c"
    load_tables(root, cache_dir=cache)
    for f in cache.rglob("*.arrow"):
        f.write_bytes(b"garbage")
    assert len(load_tables(root, cache_dir=cache).records) == 4


def test_empty_or_missing_store(tmp_path):
    t = load_tables(tmp_path / "nothing", cache_dir=False)
    assert t.empty and not t.skipped and list(t.labels.columns)[0] == "file"
