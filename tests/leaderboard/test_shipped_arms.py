"""The shipped store's verified reference arms (`baselines.json`) agree with the published records
that are themselves reference runs (the N = 0 tasks), within what the setting's noise explains
(the check `publish` makes), and the public dev sets have their arm: a forged baseline on them is
refused, not merely noted."""

from pathlib import Path
from statistics import fmean

from cxrbench.leaderboard.baselines import read_baselines, verified_arm
from cxrbench.leaderboard.store import record_files
from cxrbench.reproducibility import AUROC_FLOOR, paired_tolerance
from cxrbench.results import read_record
from cxrbench.trust.baseline_arm import reference_arm

STORE = Path(__file__).resolve().parents[2] / "leaderboard" / "cxrbench" / "leaderboard" / "results"


def test_dev_and_held_out_arms_are_shipped():
    arms = read_baselines(STORE)["arms"]
    for baseline in ("quick/phantom/supplement-0@5", "quick/phantom/cross_source-0@5"):
        assert set(arms[baseline]) == {"dev", "held-out:f9c6b48b65c238f590b89e7b"}, baseline


def test_shipped_arms_agree_with_the_published_reference_runs():
    checked = set()
    for path in record_files(STORE):
        record = read_record(path)
        arm = reference_arm(record)
        verified = verified_arm(STORE, record)
        if arm is None or arm[1] != "submission" or verified is None:  # only N = 0 records are the run itself
            continue
        for ev in record.eval_sets:
            ours = list(ev.per_seed_macro_auroc)
            theirs = [verified["macro_auroc"][ev.eval_set][str(seed)] for seed in record.seeds]
            allowed = paired_tolerance(ours, theirs) or AUROC_FLOOR
            assert abs(fmean(ours) - fmean(theirs)) <= allowed, (path, ev.eval_set, fmean(ours), fmean(theirs), allowed)
        checked.add((record.task.name, record.evaluation.eval_sets))
    assert checked == {(task, population) for task in ("phantom/supplement-0", "phantom/cross_source-0")
                       for population in ("dev", "held-out")}
