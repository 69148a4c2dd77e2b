"""Bytes a planned job carries to its worker, and the driver's memory after planning, at any image size.

    python docs/experiments/job_payload.py --size 32  --cache CACHE      # the real phantom image store
    python docs/experiments/job_payload.py --size 256 --cache CACHE --synthetic-store

Plans one task (default phantom/supplement-100, quick budget, submission phantom-oracle) exactly
as `evaluate` does and pickles every job as an executor sends it. `--synthetic-store` fills the
image store with sparse files of the right shape instead of rendering (a 256-px store of the
quick budget's ~40,000 eval images would take 2.6 GB and an hour of rendering on a small CPU):
jobs carry the store's path and row indices either way, so the payload does not depend on the
pixels. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import time
from collections import defaultdict
from pathlib import Path


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _sparse_store() -> None:
    """ImageStore._build writes a sparse file of the right size (zeros) instead of decoding."""
    import numpy as np

    from cxrbench.data import image_store
    from cxrbench.data.atomic import atomic_write_text

    def build(self, source, rows, ids, size, folder, key, on_error):
        folder.mkdir(parents=True, exist_ok=True)
        data_path = folder / f"{key}.u8"
        with open(data_path, "wb") as fh:
            fh.truncate(len(ids) * size * size)
        meta = {"version": image_store.STORE_VERSION, "size": size, "count": len(ids), "image_ids": list(ids),
                "skipped": []}
        atomic_write_text(folder / f"{key}.json", json.dumps(meta))
        return image_store.ImageArray(image_store._memmap(data_path, len(ids), size), np.asarray(ids, dtype=object),
                                      [], data_path)

    image_store.ImageStore._build = build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="phantom/supplement-100")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--submission", default="submissions/phantom-oracle")
    parser.add_argument("--size", type=int, default=None, help="image size (default: the budget's)")
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--synthetic-store", action="store_true")
    args = parser.parse_args()
    if args.synthetic_store:
        _sparse_store()
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.options import RunOptions
    from cxrbench.runner.plan import Plan
    from cxrbench.runner.planning import TaskRun
    from cxrbench.submissions import load_submission
    from cxrbench.tasking import get_task

    spec = get_task(args.task)
    if args.size:
        budget = spec.budgets[args.budget].model_copy(update={"image_size": args.size})
        spec = spec.model_copy(update={"budgets": {**spec.budgets, args.budget: budget}})
    opts = RunOptions(budget=args.budget, cache_root=args.cache, unsafe_no_sandbox=True)
    before = _rss_bytes()
    started = time.perf_counter()
    run, plan = TaskRun(load_submission(args.submission), spec, opts, Cache(args.cache)), Plan()
    run.plan(plan)
    planned_s = time.perf_counter() - started
    by_stage: dict[str, list[int]] = defaultdict(list)
    for job in plan:
        by_stage[job.stage].append(len(pickle.dumps(job)))
    sets = {"val": run.val, **run.eval_sets, **({"real_train": run.real_train} if run.real_train else {})}
    print(json.dumps({
        "task": args.task, "budget": args.budget, "image_size": run.budget.image_size,
        "synthetic_store": args.synthetic_store, "planning_s": round(planned_s, 1),
        "jobs": {stage: {"count": len(sizes), "max_bytes": max(sizes), "mean_bytes": round(sum(sizes) / len(sizes))}
                 for stage, sizes in by_stage.items()},
        "pixels_referenced_bytes": {name: int(s.pixels.nbytes) for name, s in sets.items()},
        "driver_rss_bytes": {"before_planning": before, "after_planning": _rss_bytes(),
                             "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024},
        "cpus": os.cpu_count(),
    }, indent=1))


if __name__ == "__main__":
    main()
