#!/usr/bin/env python3
"""`make gpu-check`: everything the GPU paths need checked on one GPU machine, in one call of < 8 minutes.

On a bare GPU machine without network (its Python has torch, pytest and pytest-benchmark but
not diffusers or pydantic), this
  1. installs the missing packages from wheels prepared beforehand in `.whl/` (made on a machine
     with PyPI by `../shared/tools/gpu-wheels.sh`, carried along) and cxrbench itself, into
     /tmp/site, without network;
  2. runs the GPU tests (`-m gpu tests/baselines/ddpm/test_gpu.py`);
  3. runs the paper-256 sampler benchmark (`tests/perf/test_sampler_perf.py::test_paper256_gpu`);
  4. runs the loop's host-traffic test on the meta device (CPU-provable; with what time is left);
  5. writes one JSON summary (`--out`, default $OUT/gpu-check.json or ./gpu-check.json).
Each stage has a time cap inside a total budget (default 450 s). Without CUDA every CUDA stage
reports "no CUDA" and the script still runs end to end. Standard library only until stage 1.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("CXRBENCH_GPU_SITE", "/tmp/site"))
NEEDED = ("diffusers", "pydantic", "safetensors", "pandas", "pyarrow", "yaml", "typer", "rich", "datasets")


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def cap(self, seconds: float) -> float:
        return max(1.0, min(seconds, self.end - time.monotonic()))


def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ, **(extra or {}), PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", "/tmp/cxrbench-inductor")  # shared by the stages
    if SITE.exists():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SITE), env.get("PYTHONPATH", "")) if p)
    return env


def _run(cmd: list[str], timeout: float, extra_env: dict | None = None) -> dict:
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_env(extra_env), capture_output=True, text=True, timeout=timeout)
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc = "timeout"
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    return {"rc": rc, "seconds": round(time.monotonic() - start, 1), "tail": out[-3000:]}


def _probe(code: str) -> dict:
    """Run `code` in a child with the staged PYTHONPATH; it prints one JSON line."""
    res = _run([sys.executable, "-c", code], timeout=120)
    try:
        return json.loads(res["tail"].strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": res["tail"][-800:]}


def _missing() -> list[str]:
    code = ("import importlib.util, json; print(json.dumps([m for m in %r if importlib.util.find_spec(m) is None]))"
            % (NEEDED + ("cxrbench",),))
    found = _probe(code)
    return found if isinstance(found, list) else list(NEEDED)


def stage_install(budget: Budget) -> dict:
    missing = _missing()
    if not missing:
        return {"status": "ok", "detail": "everything already importable; nothing installed"}
    steps = []
    wheels = sorted(glob.glob(str(ROOT / ".whl" / "*.whl")))
    if set(missing) - {"cxrbench"}:
        if not wheels:
            return {"status": "failed", "detail": f"missing {missing} and no wheels in .whl/ "
                                                  "(run ../shared/tools/gpu-wheels.sh where PyPI is reachable)"}
        steps.append(_run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                           "--no-cache-dir", "--upgrade", "--target", str(SITE), *wheels], budget.cap(120)))
    # cxrbench itself, built from this checkout by the image's setuptools (no build isolation: no network)
    steps.append(_run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation",
                       "--no-compile", "--no-cache-dir", "--upgrade", "--target", str(SITE), "."], budget.cap(120)))
    still = _missing()
    return {"status": "ok" if not still else "failed", "installed_wheels": [Path(w).name for w in wheels],
            "still_missing": still, "steps": steps}


def stage_environment() -> dict:
    code = ("import json, torch; c = torch.cuda.is_available(); print(json.dumps({'torch': torch.__version__, "
            "'cuda': c, 'device': torch.cuda.get_device_name() if c else 'no CUDA', "
            "'cuda_version': torch.version.cuda, 'capability': list(torch.cuda.get_device_capability()) if c else None}))")
    info = _probe(code)
    info["python"] = platform.python_version()
    return info


def _pytest(args: list[str], budget: Budget, cap: float, extra_env: dict | None = None) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *args]
    res = _run(cmd, budget.cap(cap), extra_env)
    summary = [ln for ln in res["tail"].splitlines() if " passed" in ln or " failed" in ln or " skipped" in ln
               or " error" in ln]
    res["status"] = "ok" if res["rc"] == 0 else "failed"
    res["summary"] = summary[-1] if summary else ""
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(os.environ["OUT"]) / "gpu-check.json" if os.environ.get("OUT") else Path("gpu-check.json")
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for all stages together")
    args = parser.parse_args(argv)
    budget = Budget(args.budget)
    started = time.monotonic()
    summary: dict = {"check": "cxrbench gpu-check", "stages": {}}
    stages = summary["stages"]

    stages["install"] = stage_install(budget)
    stages["environment"] = env = stage_environment()
    cuda = bool(env.get("cuda"))
    if not cuda:
        stages["gpu_tests"] = {"status": "no CUDA"}
        stages["sampler_benchmark"] = {"status": "no CUDA"}
    else:
        stages["gpu_tests"] = _pytest(["-m", "gpu", "tests/baselines/ddpm/test_gpu.py"], budget, 150)
        bench_json = Path("/tmp/cxrbench-sampler-bench.json")
        bench_json.unlink(missing_ok=True)
        res = _pytest(["-m", "perf and gpu", "-s", "tests/perf/test_sampler_perf.py::test_paper256_gpu"],
                      budget, 300, {"CXRBENCH_BENCH_JSON": str(bench_json)})
        if bench_json.exists():
            res["numbers"] = json.loads(bench_json.read_text())
        stages["sampler_benchmark"] = res
    # CPU-provable, so last: the GPU stages get the budget first
    stages["host_traffic_meta"] = _pytest(["-m", "", "tests/baselines/ddpm/test_device_loop.py"], budget, 300)
    summary["seconds"] = round(time.monotonic() - started, 1)
    failed = [k for k, v in stages.items() if isinstance(v, dict) and v.get("status") == "failed"]
    summary["result"] = "failed: " + ", ".join(failed) if failed else ("ok" if cuda else "ok (no CUDA: GPU stages not run)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    for name, stage in stages.items():
        status = stage.get("status", stage.get("device", ""))
        print(f"{name:>20}: {status} {stage.get('summary', '')} {stage.get('seconds', '')}")
    print(f"{'result':>20}: {summary['result']} ({summary['seconds']} s) -> {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
