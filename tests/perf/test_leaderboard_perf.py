"""Leaderboard load time: 10,000 published records (test fixtures) must load in under 2 s.

Baseline, measured in the same run on the same files: plain `json.load` of every file. Reported:
cold load (parse + pydantic validation + content-hash check + flattening, no cache), warm load
(the on-disk table cache, what the app pays after the first start or after a publish), and the
per-rerun store signature (stat of every file). Run: `make bench` or
`.venv/bin/python -m pytest -q -m perf tests/perf/test_leaderboard_perf.py`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "leaderboard"))
from leaderboard_fixtures import STUDY_TASKS, make_record  # noqa: E402  (test fixtures)

from cxrbench.leaderboard.loader import load_tables, store_signature  # noqa: E402
from cxrbench.leaderboard.store import record_files, record_path  # noqa: E402

N_RECORDS = 10_000
TARGET_S = 2.0


@pytest.fixture(scope="module")
def big_store(tmp_path_factory) -> Path:
    """10,000 sealed fixture records: every study task × 2 budgets × ~360 submissions."""
    root = tmp_path_factory.mktemp("perf") / "results"
    templates = [make_record(t, "reference-ddpm", budget=b) for b in ("quick", "standard") for t in STUDY_TASKS]
    n = 0
    sub = 0
    while n < N_RECORDS:
        for rec in templates:
            if n == N_RECORDS:
                break
            rec.submission.name = f"generator-{sub:04d}"
            rec.seal()
            path = record_path(root, rec)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rec.to_json())
            n += 1
        sub += 1
    assert len(record_files(root)) == N_RECORDS
    return root


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def test_load_10000_records(benchmark, big_store, tmp_path):
    files = record_files(big_store)

    def json_baseline():
        for f in files:
            with open(f) as fh:
                json.load(fh)

    baseline = _best(json_baseline)
    t = time.perf_counter()
    cold = load_tables(big_store, cache_dir=tmp_path / "cache")
    cold_s = time.perf_counter() - t
    assert len(cold.records) == N_RECORDS and not cold.skipped
    signature_s = _best(lambda: store_signature(big_store))

    warm = benchmark.pedantic(load_tables, args=(big_store,), kwargs={"cache_dir": tmp_path / "cache"},
                              rounds=5, iterations=1, warmup_rounds=1)
    assert len(warm.records) == N_RECORDS and len(warm.labels) == len(cold.labels)
    warm_s = benchmark.stats.stats.median
    benchmark.extra_info.update({
        "records": N_RECORDS, "json_load_baseline_s": round(baseline, 3), "cold_load_s": round(cold_s, 3),
        "warm_load_s": round(warm_s, 3), "store_signature_s": round(signature_s, 3),
        "warm_over_json_baseline": round(warm_s / baseline, 3), "cold_over_json_baseline": round(cold_s / baseline, 3)})
    print(f"\n{N_RECORDS} records: json.load baseline {baseline:.2f} s; cold load {cold_s:.2f} s "
          f"({cold_s / baseline:.1f}x baseline); warm load {warm_s:.3f} s ({warm_s / baseline:.2f}x baseline); "
          f"store signature {signature_s:.3f} s")
    assert warm_s < TARGET_S, f"warm load of {N_RECORDS} records took {warm_s:.2f} s (target < {TARGET_S} s)"
