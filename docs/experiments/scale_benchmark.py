"""Scale-out, measured and projected (docs/scale-out.md).

`measure`: a phantom job matrix (phantom/supplement-100, quick budget, --seeds N: 2N training jobs,
N of the submission arm and N real-only baselines) run by `--executor ray` with 2 and with 1
workers, and with --with-local also by `--executor local` in one process. Generation and audit
are done once beforehand (`prepare`) into a warm cache that every run starts from, so the runs
time the training jobs. Prints each run's wall time, the 2-worker / 1-worker speed-up, Ray's
overhead per job, and the load average before and after each run (the machine may be shared).

    .venv/bin/python docs/experiments/scale_benchmark.py prepare                 # the warm cache, any time
    nice -n 0 .venv/bin/python docs/experiments/scale_benchmark.py measure --seeds 4 --out runs/scale.json

`project`: the standard budget's job matrix for one generator on chexpert/supplement (every ratio)
at a stated per-GPU throughput, scheduled greedily in plan order on 1, 8 and 64 GPUs.

    .venv/bin/python docs/experiments/scale_benchmark.py project
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _evaluate(cache: Path, out: Path, seeds: int, executor: str, workers: int) -> dict:
    from rich.console import Console

    from cxrbench.runner.evaluate import RunOptions, evaluate

    opts = RunOptions(budget="quick", seeds=list(range(seeds)), out_dir=out, cache_root=cache, executor=executor,
                      jobs=1, ray_workers=workers)
    log = out.parent / f"{out.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        start = time.perf_counter()
        outcome = evaluate(REPO / "submissions" / "noise", ["phantom/supplement-100"], opts,
                           console=Console(file=fh, width=200))[0]
        wall = time.perf_counter() - start
    if outcome.record.status != "complete":
        raise SystemExit(f"{executor} x{workers}: {outcome.record.errors}")
    trained = [t for t in outcome.record.timings if t.stage == "train+predict"][0]
    return {"executor": executor, "workers": workers, "wall_s": round(wall, 2),
            "train_job_seconds_sum": trained.seconds, "predictions_sha256": outcome.record.predictions_sha256}


def prepare(args) -> Path:
    """The warm cache every measured run starts from: image store, replica and audit, no training run."""
    work = Path(args.work).resolve()
    warm = work / "warm-cache"
    if not (warm / "audit").is_dir():
        # --seeds 0 is not a task option: train seed 0 once, then drop every classifier run
        _evaluate(warm, work / "warm-runs", 1, "local", 1)
        shutil.rmtree(warm / "classifier-run")
    return warm


def measure(args) -> dict:
    work = Path(args.work).resolve()
    warm = prepare(args)
    loads = [os.getloadavg()]
    runs = []
    # the 2-worker / 1-worker ratio first: the result that matters most if the machine gets busy
    for executor, workers in (("ray", 2), ("ray", 1), ("local", 1))[:3 if args.with_local else 2]:
        cache = work / f"cache-{executor}-{workers}"
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(work / f"runs-{executor}-{workers}", ignore_errors=True)
        shutil.copytree(warm, cache)
        runs.append(_evaluate(cache, work / f"runs-{executor}-{workers}", args.seeds, executor, workers))
        loads.append(os.getloadavg())
        print(json.dumps(runs[-1]), flush=True)
    ray2, ray1, local = (*runs, None)[:3]
    jobs = 2 * args.seeds
    result = {
        "task": "phantom/supplement-100", "budget": "quick", "submission": "noise", "training_jobs": jobs,
        "runs": runs, "speedup_2_vs_1_ray_workers": round(ray1["wall_s"] / ray2["wall_s"], 3),
        # against a local run of the same jobs; and, without one, against the jobs' own time inside
        # the Ray workers (what a local run would have spent), i.e. scheduling + transfer + startup
        "ray_overhead_per_job_s": round((ray1["wall_s"] - local["wall_s"]) / jobs, 2) if local else None,
        "ray_overhead_per_job_vs_job_time_s": round((ray1["wall_s"] - ray1["train_job_seconds_sum"]) / jobs, 2),
        "same_predictions": len({r["predictions_sha256"] for r in runs}) == 1,
        "loadavg_1_5_15": [[round(x, 2) for x in la] for la in loads], "cpus": os.cpu_count(),
        "nice": os.nice(0),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


#: the stated per-GPU throughputs (not measured: no GPU run yet):
#: 720k 256-px images in about 4 GPU-hours at 20 DPM-Solver++ steps; ConvNeXt-B on 792k images,
#: 30 epochs (standard@2), in 2-5 GPU-hours: 3.5 h taken
GENERATE_IMG_PER_S = 720_000 / (4 * 3600)
TRAIN_IMG_EPOCHS_PER_S = 792_000 * 30 / (3.5 * 3600)
CHEXPERT_TRAIN_ROWS = 72_000
RATIOS = (0, 100, 200, 300, 500, 1000)
SEEDS = 5


def standard_jobs() -> list[tuple[str, float, tuple[int, ...]]]:
    """(stage, GPU-seconds, replicas it needs) per job, in the plan's order."""
    jobs, replicas = [], 0
    for ratio in RATIOS:  # tasks are planned by ratio; each adds the replicas it is the first to need
        while replicas < ratio // 100:
            jobs.append(("generate", CHEXPERT_TRAIN_ROWS / GENERATE_IMG_PER_S, ()))
            replicas += 1
        images = CHEXPERT_TRAIN_ROWS * (1 + ratio / 100)
        jobs += [("train", images * 30 / TRAIN_IMG_EPOCHS_PER_S, tuple(range(ratio // 100))) for _ in range(SEEDS)]
    return jobs


def schedule(jobs, gpus: int) -> float:
    """Wall seconds of greedy list scheduling in plan order (a job starts when its replicas exist)."""
    free = [0.0] * gpus
    replica_done: dict[int, float] = {}
    end = 0.0
    for stage, seconds, needs in jobs:
        ready = max((replica_done[r] for r in needs), default=0.0)
        i = min(range(gpus), key=lambda g: max(free[g], ready))
        start = max(free[i], ready)
        free[i] = start + seconds
        if stage == "generate":
            replica_done[len(replica_done)] = free[i]
        end = max(end, free[i])
    return end


def project(_args) -> None:
    jobs = standard_jobs()
    print(f"generation {GENERATE_IMG_PER_S:.0f} img/s/GPU, training {TRAIN_IMG_EPOCHS_PER_S:.0f} img/s/GPU")
    for stage in ("generate", "train"):
        costs = sorted({round(s / 3600, 2) for st, s, _ in jobs if st == stage})
        n = sum(st == stage for st, _, _ in jobs)
        total = sum(s for st, s, _ in jobs if st == stage) / 3600
        print(f"{stage}: {n} jobs, {costs} GPU-h each, {total:.1f} GPU-h in all")
    for gpus in (1, 8, 64):
        print(f"{gpus} GPU(s): {schedule(jobs, gpus) / 3600:.1f} h")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--seeds", type=int, default=4)
    m.add_argument("--work", default="runs/scale-benchmark")
    m.add_argument("--out", default=None)
    m.add_argument("--with-local", action="store_true", help="also time --executor local (a third run)")
    p = sub.add_parser("prepare")
    p.add_argument("--work", default="runs/scale-benchmark")
    sub.add_parser("project")
    args = parser.parse_args()
    {"measure": measure, "prepare": prepare, "project": project}[args.command](args)


if __name__ == "__main__":
    main()
