"""results.py: schema versions are additive: older records still verify; later fields cannot ride on them."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "leaderboard"))
from leaderboard_fixtures import make_record  # noqa: E402

from cxrbench.results import SCHEMA_VERSION, RecordError, read_record, write_record  # noqa: E402


def _as_version(record, version: int) -> dict:
    """The record as a writer of schema `version` sealed it: no later fields, hashed without them."""
    from cxrbench.results import ADDED_IN, ResultRecord, later_parts

    raw = record.model_dump(mode="json")
    raw.pop("signature")  # the envelope: never part of the sealed content
    for added in (fields for v, fields in ADDED_IN.items() if v > version):
        for section, name in added:
            for part in later_parts(raw, section):
                part.pop(name)
    raw["schema_version"] = version
    old = ResultRecord.model_validate(raw)
    raw["content_sha256"] = old.compute_sha256()
    return raw


def _as_v2(record) -> dict:
    return _as_version(record, 2)


def test_v2_records_verify_and_cannot_carry_v3_fields(tmp_path):
    import hashlib

    rec = make_record("phantom/supplement-100", "noise")
    raw = _as_v2(rec)
    body = {k: v for k, v in raw.items() if k != "content_sha256"}
    # the v2 hash is the one a v2 writer computed (same canonical JSON, no v3 keys)
    assert raw["content_sha256"] == hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                                                   .encode()).hexdigest()
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(raw))
    old = read_record(path)
    assert old.schema_version == 2 and old.submission.parameters is None and old.generation == []
    raw["submission"]["parameters"] = 10**9  # unhashed in a v2 record, so refused outright
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError, match=r"submission.parameters is set, but schema_version 2 records"):
        read_record(path)


def test_v3_record_round_trip_and_its_links_are_checked(tmp_path):
    rec = make_record("phantom/supplement-100", "noise")
    rec.submission.links = {"code": "https://github.com/a/b"}
    rec.submission.parameters = 42
    path = write_record(rec, tmp_path / "v3.json")
    back = read_record(path)
    assert back.schema_version == SCHEMA_VERSION >= 3 and back.submission.links == {"code": "https://github.com/a/b"}
    raw = json.loads(path.read_text())
    raw["submission"]["parameters"] = 43  # a v3 field is hashed
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError, match="content_sha256 does not match"):
        read_record(path)
    raw["submission"]["links"] = {"code": "javascript:alert(1)"}
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError, match=r"link 'code': 'javascript:alert\(1\)' is not a plain http\(s\) URL"):
        read_record(path)


def test_v6_records_verify_and_cannot_carry_v7_fields(tmp_path):
    """v7 added a field to every comparison (`verdict_reason`): a v6 record hashes without it, and a v6
    record that carries one is refused."""
    rec = make_record("phantom/supplement-100", "noise")
    assert rec.comparisons
    raw = _as_version(rec, 6)
    assert all("verdict_reason" not in c for c in raw["comparisons"]) and "fits" not in raw["submission"]
    path = tmp_path / "v6.json"
    path.write_text(json.dumps(raw))
    old = read_record(path)
    assert old.schema_version == 6 and all(c.verdict_reason is None for c in old.comparisons)
    assert json.loads(old.to_json()) == raw  # re-written as it was
    raw["comparisons"][0]["verdict_reason"] = "too few seeds (1); use ≥ 3, ≥ 5 for per-label tests"
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError, match=r"comparisons\[\].verdict_reason is set, but schema_version 6 records"):
        read_record(path)


def test_v4_evaluation_is_hashed_and_cannot_ride_on_a_v3_record(tmp_path):
    rec = make_record("phantom/supplement-100", "noise")
    path = write_record(rec, tmp_path / "v4.json")
    raw = json.loads(path.read_text())
    assert raw["evaluation"] == {"eval_sets": "dev", "evaluator_key": None, "private_eval_sets": {}}
    assert "signature" not in raw  # an unsigned record carries no signature envelope at all
    raw["evaluation"]["eval_sets"] = "held-out"
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError, match="content_sha256 does not match"):
        read_record(path)
    # a v3 record (no evaluation, hashed without it) still verifies, and cannot claim held-out sets
    raw = _as_version(rec, 3)
    path.write_text(json.dumps(raw))
    old = read_record(path)
    assert old.evaluation.eval_sets == "dev" and json.loads(old.to_json()) == raw  # re-written as it was
    raw["evaluation"] = {"eval_sets": "held-out", "evaluator_key": "f" * 24}
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError, match="evaluation is set, but schema_version 3 records"):
        read_record(path)


def test_v4_records_verify_and_cannot_carry_v5_population_fields(tmp_path):
    rec = make_record("phantom/supplement-100", "noise")
    raw = _as_version(rec, 4)
    path = tmp_path / "v4.json"
    path.write_text(json.dumps(raw))
    old = read_record(path)
    assert old.schema_version == 4 and old.submission.data_group is None and old.task.more_real_data == "separate"
    raw["submission"]["data_group"] = "task rows"  # unhashed in a v4 record, so refused outright
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError, match=r"submission.data_group is set, but schema_version 4 records"):
        read_record(path)


def test_v5_population_is_hashed(tmp_path):
    from cxrbench.training_population import TrainingSource

    rec = make_record("phantom/supplement-100", "noise")
    rec.submission.training_population = [TrainingSource(data="phantom/site-a/train", patients=712, population=1000)]
    rec.submission.real_patients, rec.submission.task_real_patients = 712, 712
    rec.submission.data_group = "task rows"
    path = write_record(rec, tmp_path / "v5.json")
    assert read_record(path).submission.training_population[0].patients == 712
    raw = json.loads(path.read_text())
    raw["submission"]["data_group"] = "no real data"
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError, match="content_sha256 does not match"):
        read_record(path)


def test_v6_fields_of_list_items_cannot_ride_on_a_v5_record(tmp_path):
    """`generation[].set_images` (v6) lives in each item of a list: a v5 record holds none of it."""
    raw = _as_version(make_record("phantom/supplement-300", "noise"), 5)
    path = tmp_path / "v5.json"
    path.write_text(json.dumps(raw))
    old = read_record(path)
    assert [g.set_images for g in old.generation] == [None, None, None] and old.scored_labels == []
    assert json.loads(old.to_json()) == raw  # re-written as it was
    raw["generation"][1]["set_images"] = 1902
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError, match=r"generation\[\].set_images is set, but schema_version 5 records"):
        read_record(path)


def test_v6_scored_labels_and_smoke_limit_are_hashed(tmp_path):
    rec = make_record("phantom/supplement-100", "noise")
    rec.scored_labels, rec.smoke_limit = list(rec.task.labels[:3]), 40
    path = write_record(rec, tmp_path / "v6.json")
    back = read_record(path)
    assert back.schema_version == SCHEMA_VERSION == 7 and back.labels == list(rec.task.labels[:3])
    for field, value in (("scored_labels", []), ("smoke_limit", None)):
        raw = json.loads(path.read_text())
        raw[field] = value
        path.write_text(json.dumps(raw))
        with pytest.raises(RecordError, match="content_sha256 does not match"):
            read_record(path)
        path.write_text(back.to_json())
