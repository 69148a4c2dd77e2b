"""A job's payload does not grow with the image size: at 256 px a training job carries the same
few kilobytes as at 32 px (the image store's path and the rows' parquet, never pixels); the
target is at most 1 MB per job at any size."""

import pickle

from test_evaluate import ORACLE, _sub

from cxrbench.runner.cache import Cache
from cxrbench.runner.evaluate import TaskRun
from cxrbench.runner.plan import Plan
from cxrbench.submissions import load_submission
from cxrbench.tasking import get_task

MAX_JOB_BYTES = 1 << 20


def _payloads(tmp_path, run_opts, size: int) -> tuple[dict[str, int], int]:
    spec = get_task("tiny/supplement-100")
    budget = spec.budgets["quick"].model_copy(update={"image_size": size})
    spec = spec.model_copy(update={"budgets": {**spec.budgets, "quick": budget}})
    plan, run = Plan(), TaskRun(load_submission(_sub(tmp_path, f"oracle{size}", ORACLE)), spec, run_opts,
                                Cache(run_opts.cache_root))
    run.plan(plan)
    pixels = sum(es.pixels.nbytes for es in run.eval_sets.values()) + run.val.pixels.nbytes
    return {job.label: len(pickle.dumps(job)) for job in plan}, pixels


def test_training_jobs_carry_the_same_bytes_at_256_px_as_at_32(tiny_tasks, run_opts, tmp_path):
    small, small_pixels = _payloads(tmp_path, run_opts, 32)
    large, large_pixels = _payloads(tmp_path, run_opts, 256)
    assert large_pixels == 64 * small_pixels  # the data did grow 64-fold ...
    assert max(large.values()) <= MAX_JOB_BYTES
    for label, size in small.items():  # ... the jobs did not (a few bytes of numbers and keys)
        assert abs(large[label] - size) < 256, (label, size, large[label])
