"""What a planned job carries to its worker: its cache key, and real data by reference (the rows'
parquet and the image store's file), never pixels; the worker reopens exactly the same data."""

import pickle

import numpy as np
from test_evaluate import ORACLE, _sub

from cxrbench.runner.cache import Cache
from cxrbench.runner.datasets import RealSet
from cxrbench.runner.evaluate import TaskRun
from cxrbench.runner.plan import Plan
from cxrbench.submissions import load_submission
from cxrbench.tasking import get_task


def _planned(tmp_path, run_opts) -> tuple[TaskRun, Plan]:
    plan = Plan()
    run = TaskRun(load_submission(_sub(tmp_path, "oracle", ORACLE)), get_task("tiny/supplement-100"), run_opts,
                  Cache(run_opts.cache_root))
    run.plan(plan)
    return run, plan


def test_jobs_carry_their_key_and_no_pixels(tiny_tasks, run_opts, tmp_path):
    run, plan = _planned(tmp_path, run_opts)
    entry_jobs = [job for job in plan if job.entry is not None]
    assert {job.stage for job in entry_jobs} == {"generate", "audit", "train"}
    assert all(job.kwargs["key"] == job.key for job in entry_jobs)
    pixel_bytes = sum(es.pixels.nbytes for es in run.eval_sets.values()) + run.val.pixels.nbytes
    for job in plan:
        payload = pickle.dumps(job)
        assert len(payload) < min(pixel_bytes, 64 << 10), (job.label, len(payload))


def test_a_pickled_real_set_reopens_the_same_rows_and_pixels(tiny_tasks, run_opts, tmp_path):
    run, _ = _planned(tmp_path, run_opts)
    original = run.eval_sets["internal_test"]
    assert original.stored is not None
    copy: RealSet = pickle.loads(pickle.dumps(original))
    assert isinstance(copy.pixels, np.memmap) and np.array_equal(copy.pixels, original.pixels)
    assert copy.rows.equals(original.rows) and copy.content_key == original.content_key
