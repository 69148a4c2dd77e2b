import json

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cxrbench.data import fingerprint as fp
from cxrbench.data.splits import Split
from cxrbench.errors import DataError


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.from_regex(r"[a-z]{0,3}[0-9]{1,6}", fullmatch=True), st.text(max_size=6)),
                max_size=60))
@example(["\u1946"])  # LIMBU DIGIT ZERO: a Unicode digit that is not 0-9 must stay an id of its own
@example(["p\u0663", "p3"])  # ARABIC-INDIC DIGIT THREE next to an ASCII 3
def test_compact_ids_round_trip(ids):
    assert fp.expand_ids(fp.compact_ids(ids)) == sorted(set(ids))


def test_compact_ids_collapses_runs_and_keeps_zero_padding():
    ids = [f"patient{i:05d}" for i in range(1, 1001) if i != 500]
    compact = fp.compact_ids(ids)
    assert compact == {"runs": {"patient|5": [[1, 499], [501, 1000]]}, "other": []}
    assert fp.expand_ids(compact)[0] == "patient00001"


def _fingerprint(patients, images_per_patient=2):
    rows = pd.DataFrame({"image_id": [f"{p}/{k}" for p in patients for k in range(images_per_patient)],
                         "patient_id": [p for p in patients for _ in range(images_per_patient)]})
    return fp.Fingerprint.of(Split.from_rows(rows, "demo"), rows)


def test_verify_match_subset_and_mismatch_name_the_patients():
    patients = [f"patient{i:05d}" for i in range(1, 201)]
    frozen = _fingerprint(patients)
    assert fp.verify(_fingerprint(patients), frozen).status == "match"

    subset = fp.verify(_fingerprint(patients[:150]), frozen)
    assert subset.status == "subset" and subset.ok
    assert subset.missing_patients == patients[150:]
    assert any("50 frozen patient(s) absent locally" in line and "patient00151" in line for line in subset.lines)

    extra = fp.verify(_fingerprint(patients + ["patient99999", "stranger"]), frozen)
    assert extra.status == "mismatch" and not extra.ok
    assert extra.extra_patients == ["patient99999", "stranger"]
    assert any("2 local patient(s) not in the frozen split: patient99999, stranger" in line for line in extra.lines)

    more_images = fp.verify(_fingerprint(patients, images_per_patient=3), frozen)
    assert more_images.status == "mismatch"
    assert any("image counts differ" in line for line in more_images.lines)


def test_verify_detects_a_changed_split_function(monkeypatch):
    patients = [f"p{i}" for i in range(50)]
    frozen = _fingerprint(patients)
    tampered = frozen.model_copy(update={"sha256": "0" * 64})
    report = fp.verify(_fingerprint(patients[:10]), tampered)
    assert report.status == "mismatch"
    assert any("no longer reproduces" in line for line in report.lines)


def test_fingerprint_json_round_trip_and_bad_file(tmp_path):
    frozen = _fingerprint(["a1", "a2", "b"])
    path = frozen.save(tmp_path / "f.json")
    assert fp.Fingerprint.load(path) == frozen
    json.loads(path.read_text())
    (tmp_path / "bad.json").write_text('{"source": 3}')
    with pytest.raises(DataError, match="bad.json: not a valid cxrbench fingerprint"):
        fp.Fingerprint.load(tmp_path / "bad.json")
    with pytest.raises(DataError, match="no committed fingerprint for source 'nosuch'"):
        fp.committed("nosuch", "cxrbench")


def test_committed_chexpert_fingerprint_counts():
    # Reproduced from the real metadata end to end by tests/data/test_cli_data.py (verify → match).
    frozen = fp.committed("chexpert", "cxrbench")
    assert frozen.patients == {"train": 45292, "val": 6555, "test": 12687}
    assert sum(frozen.images.values()) == 191_027  # every frontal image of CheXpert train.csv
    assert len(fp.expand_ids(frozen.patient_ids)) == 64_534
