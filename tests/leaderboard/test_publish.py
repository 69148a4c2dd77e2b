import json
import subprocess
import sys

import pandas as pd
import pytest
from leaderboard_fixtures import FAKE_SHA, make_record, tamper, write_evaluated

from cxrbench.leaderboard import frames
from cxrbench.leaderboard.loader import load_pairwise, load_tables
from cxrbench.leaderboard.publish import ExpectedTask, publish, shipped_task
from cxrbench.leaderboard.ranking import PAIRED
from cxrbench.leaderboard.store import PAIRWISE_FILE
from cxrbench.results import Comparison, read_record, write_record

FINGERPRINTS = {"phantom/site-a/train": "a" * 64, "phantom/site-a/test": "b" * 64}


def expected(record, **overrides):
    fields = dict(name=record.task.name, version=1, spec_sha256=FAKE_SHA,
                  eval_sets=("internal_test", "external:site-b", "external:site-c"),
                  labels=tuple(record.task.labels), split_fingerprints=FINGERPRINTS)
    fields.update(overrides)
    return ExpectedTask(**fields)


def run(files, store, resolve=expected, compare=False):
    # fixture records carry made-up numbers: recomputation from predictions is tested in
    # tests/runner/test_score_inputs.py on records that `evaluate` wrote
    return publish(files, store, resolve_task=resolve, compare=compare, rescore=None)


@pytest.fixture
def evaluated(tmp_path):
    """Two generators' records on supplement-100, as `cxrbench evaluate` leaves them."""
    out = tmp_path / "runs"
    return [write_evaluated(make_record("phantom/supplement-100", g), out / g) for g in ("oracle", "noise")]


def test_publish_copies_record_and_predictions(evaluated, tmp_path):
    store = tmp_path / "store"
    report = run(evaluated, store)
    assert report.ok and len(report.published) == 2
    target = store / "phantom" / "quick" / "supplement-100@1" / "oracle@1.0.json"
    assert target in report.published
    assert target.read_bytes() == evaluated[0].read_bytes()  # byte for byte: the seal still holds
    pred = "oracle@1.0.predictions.parquet"
    assert (target.parent / pred).read_bytes() == (evaluated[0].parent / pred).read_bytes()
    assert read_record(target).key == read_record(evaluated[0]).key
    assert any("paired tests" in n for n in report.notes)  # compare=False is reported


def test_duplicates_are_rejected(evaluated, tmp_path):
    store = tmp_path / "store"
    run(evaluated[:1], store)
    report = run(evaluated[:1], store)
    assert not report.ok and "already published" in report.rejected[0][1] and "identical" in report.rejected[0][1]
    # same key, different content (a rerun): still rejected, with the way to replace it
    again = make_record("phantom/supplement-100", "oracle", seed=7)
    again.created_at = "2030-01-01T00:00:00+00:00"
    report = run([write_evaluated(again, tmp_path / "rerun")], store)
    assert "immutable" in report.rejected[0][1]


def test_tampered_record_and_predictions_rejected(evaluated, tmp_path):
    tamper(evaluated[0])
    (evaluated[1].parent / "noise@1.0.predictions.parquet").write_bytes(b"other bytes")
    report = run(evaluated, tmp_path / "store")
    reasons = dict(report.rejected)
    assert "altered after it was written" in reasons[str(evaluated[0])]
    assert "does not match predictions_sha256" in reasons[str(evaluated[1])]
    assert not report.published and not (tmp_path / "store").exists()


@pytest.mark.parametrize("override, message", [
    (dict(version=2), "task version 1 disagrees with the shipped phantom/supplement-100 version 2"),
    (dict(spec_sha256="e" * 64), "task spec hash"),
    (dict(split_fingerprints={**FINGERPRINTS, "phantom/site-a/test": "c" * 64}), "split fingerprint 'phantom/site-a/test'"),
    (dict(split_fingerprints={"phantom/site-b/test": "c" * 64}), "split fingerprint 'phantom/site-b/test' is missing"),
    (dict(eval_sets=("internal_test", "external:site-z")), "eval set(s) ['external:site-z']"),
    (dict(split_fingerprints={**FINGERPRINTS, "pixels": "d" * 64}),
     "the shipped task's is dddddddddddd…: the record was scored on images drawn by another version of the "
     "phantom renderer"),
])
def test_disagreement_with_shipped_task_rejected(evaluated, tmp_path, override, message):
    report = run(evaluated[:1], tmp_path / "store", resolve=lambda r: expected(r, **override))
    assert not report.published and message in report.rejected[0][1]


def test_incomplete_records_rejected(tmp_path):
    failed = make_record("phantom/supplement-100", "oracle")
    failed.status, failed.errors = "failed", ["generate: generator timed out after 900 s"]
    partial = make_record("phantom/supplement-100", "noise")
    partial.eval_sets[1].labels = partial.eval_sets[1].labels[:-1]
    partial.comparisons = partial.comparisons[:1]
    nopred = make_record("phantom/supplement-100", "label-shuffle")
    files = [write_evaluated(failed, tmp_path / "a"), write_evaluated(partial, tmp_path / "b"),
             write_record(nopred, tmp_path / "c" / "r.json")]
    reasons = [r for _, r in run(files, tmp_path / "store").rejected]
    assert "status is 'failed': generate: generator timed out" in reasons[0]
    assert "lacks label scores for ['Support Devices']" in reasons[1]
    assert "no comparison against the real-only baseline" in reasons[1]
    assert "no per-image predictions file" in reasons[2]


def test_predictions_file_names_must_not_collide(tmp_path):
    a = write_evaluated(make_record("phantom/supplement-100", "oracle"), tmp_path / "a", "predictions.parquet")
    b = write_evaluated(make_record("phantom/supplement-100", "noise"), tmp_path / "b", "predictions.parquet")
    report = run([a, b], tmp_path / "store")
    assert len(report.published) == 1 and "'predictions.parquet' is already used" in report.rejected[0][1]


def test_store_consistency_across_submissions(evaluated, tmp_path):
    store = tmp_path / "store"
    run(evaluated[:1], store)
    other = make_record("phantom/supplement-100", "reference-ddpm")
    other.split_fingerprints = {**other.split_fingerprints, "phantom/site-a/train": "d" * 64}
    report = run([write_evaluated(other, tmp_path / "x")], store,
                 resolve=lambda r: expected(r, split_fingerprints=None))  # no shipped fingerprints
    assert "differ from the published oracle@1.0" in report.rejected[0][1]


def fake_compare(a, b):
    """Injected paired test: Δ of the stored macro AUROCs, p small when |Δ| > 0.005."""
    out = []
    for ev in a.record.eval_sets:
        d = ev.macro_auroc - b.record.macro(ev.eval_set)
        out.append(Comparison(eval_set=ev.eval_set, against=b.entry, delta=d, ci_low=d - 0.005,
                              ci_high=d + 0.005, p_value=1e-4 if abs(d) > 0.005 else 0.5,
                              method="fake paired test"))
    return out


def test_pairwise_results_stored_and_used_for_ranks(evaluated, tmp_path):
    store = tmp_path / "store"
    third = write_evaluated(make_record("phantom/supplement-100", "reference-ddpm"), tmp_path / "runs" / "ref")
    report = run(evaluated + [third], store, compare=fake_compare)
    assert report.ok and report.notes == [  # unsigned records in a store that trusts no key
        "reference arm phantom/supplement-0 (dev) not checked: no record signed by a trusted key has set the "
        "verified one in this store yet"]
    data = json.loads((store / "phantom" / "quick" / "supplement-100@1" / PAIRWISE_FILE).read_text())
    assert {frozenset((p["a"], p["b"])) for p in data["pairs"]} == {
        frozenset(x) for x in (("noise@1.0", "oracle@1.0"), ("reference-ddpm@1.0", "oracle@1.0"),
                               ("reference-ddpm@1.0", "noise@1.0"))}
    tables = load_tables(store, cache_dir=False)
    pairs, warnings = load_pairwise(store, tables.records)
    assert not warnings and len(pairs) == 3 * 3 and pairs["fresh"].all()
    df, methods = frames.overview(tables, pairs, "supplement", "internal_test")
    assert methods == {"phantom/supplement-100": PAIRED}
    # fixture internal macro AUROCs: oracle 0.7996, reference 0.7842, noise 0.7744: every |Δ| > 0.005, so the
    # fake test makes each pair significant and the order is strict, though the CIs (±0.012) overlap
    assert list(zip(df["entry"], df["rank"])) == [("oracle@1.0", "1"), ("reference-ddpm@1.0", "2"), ("noise@1.0", "3")]
    ci_only, _ = frames.overview(tables, pairs.iloc[:0], "supplement", "internal_test")
    assert list(ci_only["rank"]) == ["1–2", "1–3", "2–3"]


def test_failing_comparer_keeps_record_and_notes_it(evaluated, tmp_path):
    def broken(a, b):
        raise RuntimeError("predictions unreadable")

    report = run(evaluated, tmp_path / "store", compare=broken)
    assert report.ok and len(report.published) == 2
    assert ("noise@1.0 on phantom/supplement-100: 0 of 1 paired tests computed and stored; not computed (vs "
            "oracle@1.0: RuntimeError: predictions unreadable); only those 1 pair(s) are ranked by bootstrap-CI "
            "overlap, every other pair of the task by its stored paired test") in report.notes


def test_two_new_records_keep_every_stored_pair_and_every_published_rank(evaluated, tmp_path):
    """Publishing two new records into a copy of the store: each new pair whose predictions are there is
    computed, the one whose peer's predictions are missing is named with the reason, every stored pair
    stays as it was, and the published entries keep their ranks (their pairs are still decided by paired
    tests; only the uncomputed pair falls back to CI overlap)."""
    import shutil

    from cxrbench.leaderboard.ranking import partly_paired

    def needs_predictions(a, b):
        for rec in (a, b):
            if not rec.predictions.is_file():
                raise FileNotFoundError(f"{rec.predictions.name} is missing")
        return fake_compare(a, b)

    store = tmp_path / "store"
    third = write_evaluated(make_record("phantom/supplement-100", "reference-ddpm"), tmp_path / "runs" / "ref")
    assert run(evaluated + [third], store, compare=needs_predictions).ok
    folder = store / "phantom" / "quick" / "supplement-100@1"
    before = json.loads((folder / PAIRWISE_FILE).read_text())["pairs"]
    tables = load_tables(store, cache_dir=False)
    ranks_before, methods = frames.overview(tables, load_pairwise(store, tables.records)[0], "supplement",
                                            "internal_test")
    assert methods == {"phantom/supplement-100": PAIRED}

    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    (copy / "phantom" / "quick" / "supplement-100@1" / "noise@1.0.predictions.parquet").unlink()
    new = [write_evaluated(make_record("phantom/supplement-100", g, seed=3), tmp_path / "runs" / g)
           for g in ("diffusion-a", "diffusion-b")]
    report = run(new, copy, compare=needs_predictions)
    assert report.ok and len(report.published) == 2
    after = json.loads((copy / "phantom" / "quick" / "supplement-100@1" / PAIRWISE_FILE).read_text())["pairs"]
    assert all(pair in after for pair in before)  # every stored paired test, unchanged
    names = {frozenset((p["a"], p["b"])) for p in after}
    assert frozenset(("diffusion-a@1.0", "oracle@1.0")) in names and frozenset(("diffusion-b@1.0", "diffusion-a@1.0")) in names
    assert not any("noise@1.0" in pair and "diffusion" in " ".join(pair) for pair in map(tuple, names))
    assert report.notes[-1].startswith("diffusion-b@1.0 on phantom/supplement-100: 3 of 4 paired tests computed and "
                                       "stored; not computed (vs noise@1.0: FileNotFoundError: "
                                       "noise@1.0.predictions.parquet is missing)")
    tables = load_tables(copy, cache_dir=False)
    everything, methods = frames.overview(tables, load_pairwise(copy, tables.records)[0], "supplement", "internal_test")
    assert methods == {"phantom/supplement-100": partly_paired(2, 10)}
    from cxrbench.leaderboard.tables import TABLES, Tables

    files = set(tables.records.loc[tables.records["entry"].isin(set(ranks_before["entry"])), "file"])
    published = Tables(**{n: getattr(tables, n)[getattr(tables, n)["file"].isin(files)] for n in TABLES})
    ranks_after, _ = frames.overview(published, load_pairwise(copy, tables.records)[0], "supplement", "internal_test")
    pd.testing.assert_frame_equal(ranks_after[["entry", "rank"]], ranks_before[["entry", "rank"]])


def test_shipped_task_resolver_uses_tasking(tmp_path):
    from cxrbench.tasking import get_task

    spec = get_task("phantom/supplement-100")
    rec = shipped_record("oracle")
    exp = shipped_task(rec)
    assert exp.spec_sha256 == spec.sha256() and set(exp.eval_sets) == set(spec.eval_sets)
    assert run([write_evaluated(rec, tmp_path / "a")], tmp_path / "s", resolve=shipped_task).ok
    rec2 = make_record("phantom/supplement-100", "noise")  # fixture spec hash: not the shipped one
    rec2.task.version = spec.version
    report = run([write_evaluated(rec2, tmp_path / "b")], tmp_path / "s", resolve=shipped_task)
    assert "task spec hash" in report.rejected[0][1]
    rec3 = make_record("phantom/supplement-100", "noise")
    rec3.task.name = "phantom/supplement-7"
    report = run([write_evaluated(rec3, tmp_path / "c")], tmp_path / "s", resolve=shipped_task)
    assert "unknown task 'phantom/supplement-7'" in report.rejected[0][1]


def shipped_record(generator):
    """A fixture record that claims the shipped task's real version and spec hash."""
    from cxrbench.tasking import get_task

    spec = get_task("phantom/supplement-100")
    rec = make_record("phantom/supplement-100", generator)
    rec.task.spec_sha256, rec.task.version = spec.sha256(), spec.version
    return rec


def test_cli_publish_exit_codes(tmp_path):
    store = tmp_path / "store"
    made_up = write_evaluated(shipped_record("oracle"), tmp_path / "a")  # intact, but its numbers are invented
    fake_record = make_record("phantom/supplement-100", "noise")  # fixture spec hash at the shipped version
    fake_record.task.version = shipped_record("noise").task.version
    fake = write_evaluated(fake_record, tmp_path / "b")
    tampered = write_evaluated(shipped_record("label-shuffle"), tmp_path / "c")
    tamper(tampered)
    cmd = [sys.executable, "-m", "cxrbench.cli", "publish", "--results", str(store), "--no-compare",
           str(made_up), str(fake), str(tampered)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode == 2, text
    assert "numbers do not follow from the record's predictions" in text
    assert "task spec hash" in text and "altered after it was written" in text
    assert "3 of 3 record(s) rejected" in text and "skipped on request" in text
    assert not store.exists() or not list(store.rglob("*.json"))


def test_default_comparer_passes_store_folders_to_compare_records(evaluated, tmp_path, monkeypatch):
    """publish(compare=True) calls cxrbench.compare.compare_records(a, b, folder_a, folder_b); the
    predictions must be findable (and hash-checked) there by the real read_predictions."""
    import cxrbench.compare as compare_module
    from cxrbench.results import read_predictions

    seen = []

    def fake_compare_records(a, b, folder_a, folder_b, population=None):
        assert population is not None and population.name == "dev"  # the records' own eval population
        preds = [read_predictions(a, folder_a), read_predictions(b, folder_b)]
        seen.append((a.submission.name, b.submission.name, len(preds[0]), len(preds[1])))
        return fake_compare(type("S", (), {"record": a})(), type("S", (), {"record": b, "entry": f"{b.submission.name}@1.0"})())

    monkeypatch.setattr(compare_module, "compare_records", fake_compare_records)
    report = publish(evaluated, tmp_path / "store", resolve_task=expected, compare=True, rescore=None)
    assert report.ok and all("not checked" in n for n in report.notes), report.notes
    assert seen == [("noise", "oracle", 27, 27)]
    assert (tmp_path / "store" / "phantom" / "quick" / "supplement-100@1" / PAIRWISE_FILE).exists()
