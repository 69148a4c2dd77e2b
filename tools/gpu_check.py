#!/usr/bin/env python3
"""`make gpu-check`: what a CUDA machine checks of the GPU code paths, in one call of a few minutes.

In a checkout with its environment installed (`make install`), this
  1. records the environment (torch, CUDA, the device);
  2. runs the GPU tests (`-m gpu tests/baselines/ddpm/test_gpu.py`);
  3. runs the paper-256 sampler benchmark (`tests/perf/test_sampler_perf.py::test_paper256_gpu`);
  4. runs the sampler loop's host-traffic test on the meta device (CPU-provable; with the time left);
  5. writes one JSON summary (`--out`, default ./gpu-check.json).
Each stage has a time cap inside a total budget (default 450 s). Without CUDA the CUDA stages report
"no CUDA" and the check still runs end to end. `--stages` runs a subset (e.g. `environment`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("environment", "gpu_tests", "sampler_benchmark", "host_traffic_meta")


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def cap(self, seconds: float) -> float:
        return max(1.0, min(seconds, self.end - time.monotonic()))


def _run(cmd: list[str], timeout: float, extra_env: dict | None = None) -> dict:
    env = dict(os.environ, **(extra_env or {}), PYTHONUNBUFFERED="1",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc = "timeout"
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    return {"rc": rc, "seconds": round(time.monotonic() - start, 1), "tail": out[-3000:]}


def stage_environment() -> dict:
    code = ("import json, torch; c = torch.cuda.is_available(); print(json.dumps({'torch': torch.__version__, "
            "'cuda': c, 'device': torch.cuda.get_device_name() if c else 'no CUDA', "
            "'cuda_version': torch.version.cuda, 'capability': list(torch.cuda.get_device_capability()) if c else None}))")
    res = _run([sys.executable, "-c", code], timeout=120)
    try:
        info = json.loads(res["tail"].strip().splitlines()[-1])
    except (ValueError, IndexError):
        info = {"status": "failed", "error": res["tail"][-800:]}
    info["python"] = platform.python_version()
    return info


def _pytest(args: list[str], budget: Budget, cap: float, extra_env: dict | None = None) -> dict:
    res = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *args], budget.cap(cap),
               extra_env)
    summary = [ln for ln in res["tail"].splitlines()
               if any(word in ln for word in (" passed", " failed", " skipped", " error"))]
    res["status"] = "ok" if res["rc"] == 0 else "failed"
    res["summary"] = summary[-1] if summary else ""
    return res


def sampler_benchmark(budget: Budget, work: Path) -> dict:
    numbers = work / "sampler-bench.json"
    numbers.unlink(missing_ok=True)
    res = _pytest(["-m", "perf and gpu", "-s", "tests/perf/test_sampler_perf.py::test_paper256_gpu"], budget, 300,
                  {"CXRBENCH_BENCH_JSON": str(numbers)})
    if numbers.exists():
        res["numbers"] = json.loads(numbers.read_text())
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check.json"))
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for all stages together")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {', '.join(STAGES)}")
    args = parser.parse_args(argv)
    chosen = [s for s in args.stages.split(",") if s]
    unknown = sorted(set(chosen) - set(STAGES))
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; choose from {', '.join(STAGES)}")
    budget, started = Budget(args.budget), time.monotonic()
    env = stage_environment()
    cuda = bool(env.get("cuda"))
    stages: dict[str, dict] = {"environment": env}
    if "gpu_tests" in chosen:
        stages["gpu_tests"] = (_pytest(["-m", "gpu", "tests/baselines/ddpm/test_gpu.py"], budget, 150) if cuda
                               else {"status": "no CUDA"})
    if "sampler_benchmark" in chosen:
        stages["sampler_benchmark"] = sampler_benchmark(budget, args.out.parent) if cuda else {"status": "no CUDA"}
    if "host_traffic_meta" in chosen:  # CPU-provable, so last: the GPU stages get the budget first
        stages["host_traffic_meta"] = _pytest(["-m", "", "tests/baselines/ddpm/test_device_loop.py"], budget, 300)
    failed = [name for name, stage in stages.items() if stage.get("status") == "failed"]
    summary = {"check": "cxrbench gpu-check", "stages": stages, "seconds": round(time.monotonic() - started, 1),
               "result": "failed: " + ", ".join(failed) if failed else ("ok" if cuda else "ok (no CUDA: GPU stages not run)")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    for name, stage in stages.items():
        print(f"{name:>20}: {stage.get('status', stage.get('device', ''))} {stage.get('summary', '')} "
              f"{stage.get('seconds', '')}")
    print(f"{'result':>20}: {summary['result']} ({summary['seconds']} s) -> {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
