"""The reproducibility contract's check: two records of one submission agree byte for byte on one
setting and within seed noise per figure across settings (a Welch t-test on the records' own seed
spreads, calibrated here by simulation); what differs is named with both values and both
environments. Records written before the CPU model and ISA were recorded still load, publish and
compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cxrbench.reproducibility import (
    AUROC_FLOOR,
    SEED_NOISE_ALPHA,
    SeedMean,
    check,
    describe,
    figures,
    paired_tolerance,
    same_submission,
    tolerance,
)
from cxrbench.results import read_record

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = REPO / "leaderboard" / "cxrbench" / "leaderboard" / "results" / "phantom" / "quick" / "supplement-100@5"
EPYC = {"machine": "x86_64", "cpus": 2, "cpu_model": "AMD EPYC", "isa": "AVX512", "torch_threads": 1}
XEON = {"machine": "x86_64", "cpus": 8, "cpu_model": "Intel(R) Xeon(R)", "isa": "AVX2", "torch_threads": 4}


def published():
    return read_record(PUBLISHED / "phantom-oracle@1.json")


def primary_tolerance(record) -> float:
    """The primary Δ's tolerance between `record` and a rerun with the same seed spread."""
    primary = figures(record)["internal_test Δ vs phantom/supplement-0 (primary)"]
    return tolerance(primary, primary)


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
    shift = round(0.5 * primary_tolerance(old), 4)
    mine = rerun(old, EPYC, shift=-shift)
    result = check(mine, old)
    assert result.ok and not result.beyond and not result.same_setting  # the published one's setting is unknown
    assert result.largest.figure == "internal_test Δ vs phantom/supplement-0 (primary)"
    assert f"within seed noise (largest difference {shift:.4f}" in result.lines()[0]


def test_beyond_tolerance_names_figure_values_and_environments():
    old = published()
    shift = round(1.5 * primary_tolerance(old), 4)
    here, there = rerun(old, EPYC, shift=-shift), rerun(old, XEON)
    result = check(here, there)
    assert not result.ok and [d.figure for d in result.beyond] == ["internal_test Δ vs phantom/supplement-0 (primary)"]
    line, = result.lines()
    delta = next(c.delta for c in there.comparisons if c.endpoint == "primary")
    assert f"{delta - shift:.4f} (AMD EPYC, AVX512, 1 thread" in line
    assert f"vs {delta:.4f} (Intel(R) Xeon(R), AVX2, 4 threads" in line
    assert f"beyond the ±{primary_tolerance(old):.4f} that seed noise explains" in line


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
    far = round(1.5 * primary_tolerance(old), 4)
    a = write_record(rerun(old, EPYC, shift=far), tmp_path / "a" / "phantom-oracle@1.json")
    result = CliRunner().invoke(app, ["compare", str(a), str(PUBLISHED / "phantom-oracle@1.json")],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 4, result.output
    text = " ".join(result.output.split())
    assert "paired tests not computed:" in text and "regenerate them first: cxrbench reproduce" in text
    assert "reproduction: internal_test Δ vs phantom/supplement-0 (primary):" in text and "AMD EPYC" in text
    assert "CPU model not recorded (x86_64)" in text and "that seed noise explains" in text
    within = write_record(rerun(old, EPYC, shift=0.001), tmp_path / "c" / "phantom-oracle@1.json")
    b = write_record(rerun(old, XEON), tmp_path / "b" / "phantom-oracle@1.json")
    result = CliRunner().invoke(app, ["compare", str(within), str(b)], env={"COLUMNS": "300"})
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "reproduction: within seed noise (largest difference 0.0010" in text
    delta = next(c.delta for c in old.comparisons if c.endpoint == "primary")
    assert f"primary Δ {delta + 0.001:+.4f} vs {delta:+.4f}" in text


@pytest.mark.parametrize("shift, words", [(0.03, "that seed noise explains"), (0.0005, "within seed noise")])
def test_publish_names_the_reproduction_of_a_published_record(tmp_path, shift, words):
    """A second run of a published submission is refused (records are immutable); the refusal says
    whether the run reproduces the published one, and if not, which figure, values and environments."""
    import hashlib
    import shutil

    import pandas as pd

    from cxrbench.leaderboard.publish import publish
    from cxrbench.results import write_record

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


def test_seed_noise_tolerance_is_calibrated_and_has_a_floor():
    """Two runs of one design whose seeds are independent draws (the worst case of another setting):
    the Welch tolerance is exceeded in about SEED_NOISE_ALPHA of them, at 3 and at 5 seeds and with
    unequal spreads; identical spreads of zero fall back to the floor; one seed cannot be judged."""
    rng = np.random.default_rng(7)
    for seeds, sd_a, sd_b in [(5, 0.009, 0.009), (3, 0.009, 0.009), (5, 0.004, 0.012)]:
        reps = 10_000
        a = rng.normal(0.78, sd_a, (reps, seeds))
        b = rng.normal(0.78, sd_b, (reps, seeds))
        va, vb = a.var(axis=1, ddof=1) / seeds, b.var(axis=1, ddof=1) / seeds
        allowed = np.array([tolerance(SeedMean(0.0, x, seeds), SeedMean(0.0, y, seeds)) for x, y in zip(va, vb)])
        rate = np.mean(np.abs(a.mean(axis=1) - b.mean(axis=1)) > allowed)
        assert 0.5 * SEED_NOISE_ALPHA < rate < 1.5 * SEED_NOISE_ALPHA, (seeds, sd_a, sd_b, rate)
    assert tolerance(SeedMean(0.8, 0.0, 5), SeedMean(0.8, 0.0, 5)) == AUROC_FLOOR
    assert tolerance(SeedMean(0.8, None, 1), SeedMean(0.8, 1e-5, 5)) is None
    # the same seeds on two settings: a paired test on the per-seed differences
    same = [0.780, 0.776, 0.795, 0.773, 0.772]
    assert paired_tolerance(same, [x + 0.001 for x in same]) == AUROC_FLOOR  # a constant shift has no spread
    assert paired_tolerance(same[:1], same[:1]) is None


def test_a_one_seed_record_is_not_judged_across_settings():
    old = published()
    one = rerun(old, EPYC, shift=0.05)
    for s in one.eval_sets:
        s.per_seed_macro_auroc, s.seed_sd = s.per_seed_macro_auroc[:1], None
    for c in one.comparisons:
        c.n_seeds, c.var_seed = 1, None
    result = check(one, rerun(old, XEON))
    assert result.ok and not result.beyond and len(result.unjudged) == len(figures(old))
    assert "not judged" in result.lines()[-1] and "one seed" in result.lines()[-1]
