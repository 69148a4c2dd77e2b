"""Record signatures: valid when untouched, and an edit names the field it changed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "leaderboard"))
from leaderboard_fixtures import make_record  # noqa: E402

from cxrbench.results import read_record, write_record  # noqa: E402
from cxrbench.trust.keys import new_key  # noqa: E402
from cxrbench.trust.signing import check_signature, sign_record  # noqa: E402


@pytest.fixture
def signed(tmp_path):
    key = new_key(tmp_path / "k")
    path = write_record(make_record("phantom/supplement-100", "noise"), tmp_path / "r.json", signer=key)
    return key, path


def test_a_signed_record_verifies_and_reads_back(signed):
    key, path = signed
    rec = read_record(path)
    check = check_signature(rec)
    assert (check.status, check.fingerprint) == ("valid", key.fingerprint)
    assert rec.signature.public_key == key.public_key_b64
    assert check_signature(make_record("phantom/supplement-100", "noise")).status == "unsigned"


def test_a_resealed_edit_names_the_changed_field(signed):
    _, path = signed
    rec = read_record(path)
    rec.comparisons[0].delta = 0.5  # the forged-baseline attack changes the comparisons, then reseals
    rec.seal()
    check = check_signature(rec)
    assert check.status == "invalid" and check.problem == "field `comparisons` changed after it was signed"
    rec = read_record(path)
    rec.predictions_sha256 = "0" * 64
    rec.seal()
    assert check_signature(rec).problem == "field `predictions_sha256` changed after it was signed"


def test_editing_the_signed_digests_breaks_the_signature(signed):
    _, path = signed
    raw = json.loads(path.read_text())
    raw["comparisons"][0]["delta"] = 0.5
    from cxrbench.results import ResultRecord

    rec = ResultRecord.model_validate(raw)
    rec.seal()
    from cxrbench.trust.signing import field_digests

    rec.signature.fields = field_digests(rec)  # digests recomputed: the signature no longer covers them
    check = check_signature(rec)
    assert check.status == "invalid" and "does not match its signed field digests" in check.problem


def test_a_foreign_key_cannot_pass_as_another(signed, tmp_path):
    key, path = signed
    rec = read_record(path)
    other = new_key(tmp_path / "other")
    sign_record(rec, other)
    assert check_signature(rec).fingerprint == other.fingerprint != key.fingerprint
    rec.signature.key_fingerprint = key.fingerprint  # claims the first key's name
    assert "is not the fingerprint of its public key" in check_signature(rec).problem


def test_the_signature_is_outside_the_sealed_content(signed):
    _, path = signed
    rec = read_record(path)
    sealed = rec.content_sha256
    rec.signature = None
    assert rec.compute_sha256() == sealed  # signing never changes what the record's hash covers
