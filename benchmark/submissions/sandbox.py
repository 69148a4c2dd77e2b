"""Run untrusted submission code in its own process, with limits, and check what comes back.

- its own process (`python -m cxrbench.submissions.worker`), new session, killed as a group on
  timeout; an address-space limit (RLIMIT_AS); no network (a private network namespace via
  `unshare --net` where the OS allows it, and an audit hook that refuses sockets in any case);
- it sees only a scratch directory holding what it may see (condition rows of training images;
  eval images without labels) and its own directory; the audit hook refuses reads elsewhere
  (the benchmark's cache with labels and test images above all);
- outputs come back as shards; each is re-checked here (count, shape, dtype, range, NaN/inf).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrbench.errors import SubmissionError


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 1800
    memory_gb: float = 16
    network: bool = False
    threads: int | None = None  # OMP/MKL threads for the submission's process (None: inherit)


def _python_roots() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sysconfig.get_paths()["stdlib"]}
    roots.update(site.getsitepackages())
    roots.add(site.getusersitepackages())
    import cxrbench

    # The harness itself (editable installs live outside site-packages): code and shipped weights.
    pkg = Path(cxrbench.__file__).resolve().parent
    roots.add(str(pkg))
    for sub in ("baselines", "leaderboard", "tasks"):
        mod = sys.modules.get(f"cxrbench.{sub}") or __import__(f"cxrbench.{sub}", fromlist=["_"])
        roots.add(str(Path(mod.__file__).resolve().parent))
    return sorted(r for r in roots if r)


SYSTEM_READ = ["/usr", "/lib", "/lib64", "/etc", "/proc", "/sys", "/dev", "/opt"]


def _unshare_available() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_UNSHARE: bool | None = None


def run_worker(
    submission_dir: Path,
    entry_point: str,
    request: dict,
    files: dict[str, Callable[[Path], None]],
    limits: Limits,
    *,
    denied: list[Path],
    device: str = "cpu",
    on_shard: Callable[[str, Path], None] | None = None,
    on_event: Callable[[dict], None] | None = None,
) -> None:
    """Run one worker to completion; `on_shard(name, path)` receives each checked output shard.

    `files` maps file names in the scratch directory to writers (what the submission may see).
    Raises SubmissionError with the submission's own error, a timeout or a memory kill.
    """
    global _UNSHARE
    if _UNSHARE is None:
        _UNSHARE = _unshare_available()
    with tempfile.TemporaryDirectory(prefix="cxrbench-sandbox-") as tmp:
        work = Path(tmp)
        for name, writer in files.items():
            writer(work / name)
        req = dict(request)
        req.update(
            submission_dir=str(submission_dir), entry_point=entry_point, device=device,
            allowed_read=_python_roots() + SYSTEM_READ, allowed_write=["/dev/null", "/dev/shm"],
            denied=[str(d) for d in denied],
        )
        (work / "request.json").write_text(json.dumps(req))
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS",
                                                             "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "TZ")}
        env.update(HOME=str(work), TMPDIR=str(work), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                   MPLCONFIGDIR=str(work), TORCHINDUCTOR_CACHE_DIR=str(work / "inductor"))
        if limits.threads:
            env.update(OMP_NUM_THREADS=str(limits.threads), MKL_NUM_THREADS=str(limits.threads))
        cmd = [sys.executable, "-m", "cxrbench.submissions.worker", str(work)]
        if _UNSHARE and not limits.network:
            cmd = ["unshare", "--net", "--"] + cmd
        mem = int(limits.memory_gb * (1 << 30))

        def _limit() -> None:
            os.setsid()
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=_limit, text=True)
        error = None
        try:
            import selectors

            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)
            stderr_tail: list[str] = []
            while True:
                left = limits.timeout_s - (time.monotonic() - start)
                if left <= 0:
                    raise TimeoutError
                if not sel.select(timeout=min(left, 1.0)):
                    if proc.poll() is not None:
                        break
                    continue
                line = proc.stdout.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the submission's own prints
                if on_event:
                    on_event(msg)
                if msg.get("event") == "shard" and on_shard:
                    on_shard(msg["name"], work / "out" / f"{msg['name']}.npy")
                elif msg.get("event") == "error":
                    error = msg["error"]
            proc.wait(timeout=max(1.0, limits.timeout_s - (time.monotonic() - start)))
            stderr_tail = proc.stderr.read().splitlines()[-5:]
        except (TimeoutError, subprocess.TimeoutExpired):
            _kill(proc)
            raise SubmissionError(
                f"{submission_dir.name}: timed out after {limits.timeout_s:.0f} s (limit set by the task budget)") from None
        finally:
            if proc.poll() is None:
                _kill(proc)
        if proc.returncode != 0:
            if error is None:
                if proc.returncode in (-signal.SIGKILL, -signal.SIGSEGV) or any("MemoryError" in s for s in stderr_tail):
                    error = f"killed (exit {proc.returncode}); memory limit {limits.memory_gb:g} GB?"
                else:
                    error = f"exit code {proc.returncode}: {' | '.join(stderr_tail) or 'no output'}"
            raise SubmissionError(f"{submission_dir.name}: {error}")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def check_images(images: np.ndarray, n: int, size: int, where: str) -> np.ndarray:
    """Parent-side check of a generator's output shard."""
    if images.dtype != np.uint8:
        raise SubmissionError(f"{where}: images have dtype {images.dtype}; expected uint8")
    if images.shape != (n, size, size):
        raise SubmissionError(f"{where}: images have shape {images.shape}; expected ({n}, {size}, {size})")
    return images


def check_probabilities(probs: np.ndarray, n: int, n_labels: int, where: str) -> np.ndarray:
    """Parent-side check of a classifier's output shard."""
    if probs.shape != (n, n_labels):
        raise SubmissionError(f"{where}: predictions have shape {probs.shape}; expected ({n}, {n_labels})")
    if not np.isfinite(probs).all():
        raise SubmissionError(f"{where}: predictions contain {int((~np.isfinite(probs)).sum())} NaN/inf value(s)")
    if probs.min() < 0 or probs.max() > 1:
        raise SubmissionError(f"{where}: predictions outside [0, 1] (min {probs.min():.3g}, max {probs.max():.3g}); "
                              f"return probabilities, not logits")
    return probs
