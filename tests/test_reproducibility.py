"""The reproducibility contract's check: two records of one submission agree byte for byte on one
setting and within the tolerance per figure across settings; what differs is named with both
values and both environments. Records written before the CPU model and ISA were recorded still
load, publish and compare."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxrbench.reproducibility import AUROC_TOLERANCE, check, describe, figures, same_submission
from cxrbench.results import read_record

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = REPO / "leaderboard" / "cxrbench" / "leaderboard" / "results" / "phantom" / "quick" / "supplement-100@5"
EPYC = {"machine": "x86_64", "cpus": 2, "cpu_model": "AMD EPYC", "isa": "AVX512", "torch_threads": 1}
XEON = {"machine": "x86_64", "cpus": 8, "cpu_model": "Intel(R) Xeon(R)", "isa": "AVX2", "torch_threads": 4}


def published():
    return read_record(PUBLISHED / "phantom-oracle@1.json")


def rerun(record, hardware, shift=0.0, predictions=None):
    """`record` as another run would write it: other hardware, its primary Δ moved by `shift`, its
    predictions' bytes (sha256) its own unless given."""
    out = record.model_copy(deep=True)
    out.environment.hardware = dict(hardware)
    out.predictions_sha256 = predictions or f"{hardware['cpu_model']} {shift}"
    primary = next(c for c in out.comparisons if c.endpoint == "primary")
    primary.delta += shift
    return out


def test_old_records_lack_the_new_fields_and_still_describe_themselves():
    old = published()
    assert "cpu_model" not in old.environment.hardware
    text = describe(old.environment)
    assert text.startswith("CPU model not recorded (x86_64), ISA not recorded, 1 thread") and "torch 2.14.1" in text
    assert describe(rerun(old, EPYC).environment).startswith("AMD EPYC, AVX512, 1 thread, torch 2.14.1")
    # the figures the contract covers: every eval set's macro and every comparison's Δ
    names = figures(old)
    assert "internal_test macro AUROC" in names and "internal_test Δ vs phantom/supplement-0 (primary)" in names
    assert len(names) == len(old.eval_sets) + len(old.comparisons)


def test_identical_predictions_reproduce():
    old = published()
    result = check(old, old.model_copy(deep=True))
    assert result.ok and result.identical_predictions and "byte for byte" in result.lines()[0]


def test_another_machine_within_tolerance_agrees():
    old = published()
    mine = rerun(old, EPYC, shift=-0.0015)
    result = check(mine, old)
    assert result.ok and not result.beyond and not result.same_setting  # the published one's setting is unknown
    assert result.largest.figure == "internal_test Δ vs phantom/supplement-0 (primary)"
    assert "within tolerance (largest difference 0.0015" in result.lines()[0]


def test_beyond_tolerance_names_figure_values_and_environments():
    old = published()
    here, there = rerun(old, EPYC, shift=-0.006), rerun(old, XEON)
    result = check(here, there)
    assert not result.ok and [d.figure for d in result.beyond] == ["internal_test Δ vs phantom/supplement-0 (primary)"]
    line, = result.lines()
    delta = next(c.delta for c in there.comparisons if c.endpoint == "primary")
    assert f"{delta - 0.006:.4f} (AMD EPYC, AVX512, 1 thread" in line
    assert f"vs {delta:.4f} (Intel(R) Xeon(R), AVX2, 4 threads" in line
    assert f"beyond the {AUROC_TOLERANCE:g} tolerance" in line


def test_same_setting_must_give_identical_bytes():
    old = published()
    result = check(rerun(old, EPYC, shift=0.0001), rerun(old, EPYC))
    assert result.same_setting and not result.ok
    assert "same machine and software should give identical bytes" in result.lines()[0]


def test_other_submission_files_are_not_a_reproduction():
    old = published()
    other = old.model_copy(deep=True)
    other.submission.sha256 = "0" * 64
    assert same_submission(old, old) and not same_submission(old, other)


def test_compare_names_the_disagreement_and_exits_4(tmp_path):
    """Against a published record, whose predictions stay in the publisher's store: the paired tests
    are skipped (saying why) and the contract's check decides the exit code."""
    from cxrbench.cli import app
    from cxrbench.results import write_record

    old = published()
    a = write_record(rerun(old, EPYC, shift=0.004), tmp_path / "a" / "phantom-oracle@1.json")
    result = CliRunner().invoke(app, ["compare", str(a), str(PUBLISHED / "phantom-oracle@1.json")],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 4, result.output
    text = " ".join(result.output.split())
    assert "paired tests not computed:" in text and "is missing" in text
    assert "reproduction: internal_test Δ vs phantom/supplement-0 (primary):" in text and "AMD EPYC" in text
    assert "CPU model not recorded (x86_64)" in text and "beyond the 0.002 tolerance" in text
    within = write_record(rerun(old, EPYC, shift=0.001), tmp_path / "c" / "phantom-oracle@1.json")
    b = write_record(rerun(old, XEON), tmp_path / "b" / "phantom-oracle@1.json")
    result = CliRunner().invoke(app, ["compare", str(within), str(b)], env={"COLUMNS": "300"})
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "reproduction: within tolerance (largest difference 0.0010" in text
    delta = next(c.delta for c in old.comparisons if c.endpoint == "primary")
    assert f"primary Δ {delta + 0.001:+.4f} vs {delta:+.4f}" in text


@pytest.mark.parametrize("shift, words", [(0.005, "beyond the 0.002 tolerance"), (0.0005, "within tolerance")])
def test_publish_names_the_reproduction_of_a_published_record(tmp_path, shift, words):
    """A second run of a published submission is refused (records are immutable); the refusal says
    whether the run reproduces the published one, and if not, which figure, values and environments."""
    import shutil

    from cxrbench.leaderboard.publish import publish
    from cxrbench.results import write_record

    import hashlib

    import pandas as pd

    store = tmp_path / "store"
    shutil.copytree(PUBLISHED.parents[2], store)
    old = published()
    runs = tmp_path / "runs"
    runs.mkdir()
    # published predictions stay in the publisher's store (not in git): this run's stand in for them
    pd.DataFrame({"image_id": ["a"], "Cardiomegaly": [0.5]}).to_parquet(runs / old.predictions_file)
    mine = rerun(old, EPYC, shift=shift, predictions=hashlib.sha256((runs / old.predictions_file).read_bytes()).hexdigest())
    mine.created_at = "2030-01-01T00:00:00+00:00"
    path = write_record(mine, runs / "phantom-oracle@1.json")
    report = publish([path], store, compare=False, rescore=None)
    reason = report.rejected[0][1]
    assert "records are immutable" in reason and "reproduction:" in reason
    assert words in reason
