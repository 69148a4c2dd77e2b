"""SIGTERM and SIGINT to `cxrbench evaluate`, as a batch scheduler, `timeout` or Ctrl-C send them:
every process the run started (process-pool workers, bubblewrap sandboxes and their trees, Ray's
processes and tasks) is gone within 10 s; the cache holds only whole entries and no lease of a
live owner; the exit code is 128 + the signal; the last line says what was kept and the command
that resumes; and the resumed run's record is the uninterrupted run's. The local executor's test
runs by default, the Ray one with `-m slow`.

The run is the real console entry point (`tiny_cli.py`) on the tiny task, in its own session, so
that every process it leaves behind is found: descendants are sampled every 0.1 s while it runs
(pid and start time), and the session is scanned after it exits. SIGTERM goes to the evaluate
process alone (`kill`, `timeout`, Slurm); SIGINT to its whole process group (Ctrl-C).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cxrbench.results import read_record
from cxrbench.runner.cache import MARKER, entry_problem
from cxrbench.runner.lease import dead_owner, read_lease

HERE = Path(__file__).parent
#: a generator that takes a few seconds, so a signal finds its sandbox alive
SLOW = ("import time\nfrom cxrbench.data.phantom import render\nclass Gen:\n    def generate(self, c, s, size):\n"
        "        time.sleep(4)\n        return render(c, s, size)\n")
RECORD = Path("phantom") / "quick" / "tiny__supplement-100@1" / "slow@1.json"
SURVIVAL_S = 10.0


def _stat(pid: int) -> tuple[int, int, int, str] | None:
    """(ppid, session id, start time, state) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2:].split()
    return int(fields[1]), int(fields[3]), int(fields[19]), fields[0].decode()


def _processes() -> dict[int, tuple[int, int, int, str]]:
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            out[int(entry.name)] = stat
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Watched:
    """`cxrbench evaluate ...` in its own session; `seen` collects every descendant (pid → (start
    time, command line)) until the process exits."""

    def __init__(self, args: list[str], cwd: Path):
        self.proc = subprocess.Popen([sys.executable, str(HERE / "tiny_cli.py"), *args], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        self.seen: dict[int, tuple[int, str]] = {}
        self._lock = threading.Lock()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while self.proc.poll() is None:
            procs = _processes()
            children: dict[int, list[int]] = {}
            for pid, (ppid, *_rest) in procs.items():
                children.setdefault(ppid, []).append(pid)
            todo = list(children.get(self.proc.pid, ()))
            while todo:
                pid = todo.pop()
                todo += children.get(pid, ())
                with self._lock:
                    if pid not in self.seen:
                        self.seen[pid] = (procs[pid][2], _cmdline(pid))
            time.sleep(0.1)

    def running(self, fragment: str) -> bool:
        with self._lock:
            return any(fragment in cmd and _alive(pid, start) for pid, (start, cmd) in self.seen.items())

    def survivors(self) -> list[str]:
        """Descendants still alive, and anything left in the run's session."""
        with self._lock:
            left = [f"{pid} {cmd[:120]}" for pid, (start, cmd) in self.seen.items() if _alive(pid, start)]
        left += [f"{pid} {_cmdline(pid)[:120]} (in the session)" for pid, (_, sid, _, state) in _processes().items()
                 if sid == self.proc.pid and state != "Z"]
        return sorted(set(left))


def _alive(pid: int, start: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[2] == start and stat[3] != "Z"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_tasks_module):
    """The slow generator beside the tiny tasks' folder, and the uninterrupted run's record (computed once)."""
    root = tiny_tasks_module.parent
    sub = root / "slow"
    sub.mkdir()
    (sub / "submission.yaml").write_text('name: slow\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n'
                                         "training_data: []\n")
    (sub / "gen.py").write_text(SLOW)
    reference = _complete(root, "reference", [])
    return root, reference


def _args(root: Path, name: str, extra: list[str]) -> list[str]:
    from cxrbench.submissions.bwrap import unavailable_reason

    unsafe = ["--unsafe-no-sandbox"] if unavailable_reason() else []  # CI without bubblewrap
    return [str(root / "tasks"), "evaluate", str(root / "slow"), "-t", "tiny/supplement-100", "--seeds", "1",
            "--cache", str(root / name / "cache"), "--out", str(root / name / "runs"), *unsafe, *extra]


def _complete(root: Path, name: str, extra: list[str]):
    done = subprocess.run([sys.executable, str(HERE / "tiny_cli.py"), *_args(root, name, extra)], cwd=root,
                          capture_output=True, text=True, timeout=1200, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return read_record(root / name / "runs" / RECORD)


def _interrupt(root: Path, name: str, extra: list[str], sig: int, ready: list[str]) -> str:
    """Start a run, send `sig` once every `ready` fragment names a running descendant, check the
    aftermath; returns the last line of its output."""
    run = Watched(_args(root, name, extra), root)
    deadline = time.monotonic() + 600
    while not all(run.running(f) for f in ready):
        assert run.proc.poll() is None, f"the run ended before {ready} all ran: {run.proc.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, f"{ready} never all ran"
        time.sleep(0.1)
    if sig == signal.SIGINT:
        os.killpg(run.proc.pid, sig)  # Ctrl-C: the terminal signals the whole foreground group
    else:
        run.proc.send_signal(sig)
    _, err = run.proc.communicate(timeout=120)
    exited = time.monotonic()
    assert run.proc.returncode == 128 + sig, err[-3000:]
    while (left := run.survivors()) and time.monotonic() - exited < SURVIVAL_S:
        time.sleep(0.2)
    assert not left, f"alive {SURVIVAL_S:.0f} s after exit: {left}"
    _cache_is_consistent(root / name / "cache")
    return err.strip().splitlines()[-1]


def _cache_is_consistent(cache: Path) -> None:
    for marker in cache.rglob(MARKER):  # every visible entry is whole
        assert entry_problem(marker.parent) is None, marker.parent
    for lease in cache.rglob("*.lease"):  # a lease left behind belongs to a dead owner: free to take over
        assert dead_owner(read_lease(lease)[0]) is not None, lease.read_text()


def _same_record(a, b) -> None:
    assert a.predictions_sha256 == b.predictions_sha256
    assert a.eval_sets == b.eval_sets and a.comparisons == b.comparisons and a.subgroups == b.subgroups
    # a resumed replica is listed at its true size; `images` counts only what the measured run made
    assert [g.set_images for g in a.generation] == [g.set_images for g in b.generation]
    assert all(g.set_images and g.images <= g.set_images for g in a.generation), a.generation


def _resume_command(line: str, root: Path, name: str, extra: list[str]) -> None:
    sig, _, rest = line.partition(": ")
    assert sig in ("interrupted by SIGTERM", "interrupted by SIGINT"), line
    assert "finished in this run are in the cache" in rest and str(root / name / "cache") in rest
    assert rest.endswith("resume with: cxrbench " + " ".join(_args(root, name, extra)[1:])), line


def test_local_pool_and_sandbox_stop_on_sigterm_and_sigint_and_resume(setup):
    root, reference = setup
    extra = ["--jobs", "2"]
    sandbox = "cxrbench.submissions.worker"  # the submission's process (inside bubblewrap when it is there)
    # the baseline trains only once the generator has succeeded, so the sandbox and the training pool
    # are not alive at once: SIGTERM lands in generation, SIGINT in the pool's training
    line = _interrupt(root, "local", extra, signal.SIGTERM, [sandbox])
    _resume_command(line, root, "local", extra)
    line = _interrupt(root, "local", extra, signal.SIGINT, ["multiprocessing"])
    assert line.startswith("interrupted by SIGINT")
    _same_record(_complete(root, "local", extra), reference)


@pytest.mark.slow  # a Ray instance per run: minutes on a 2-core machine (as tests/runner/test_executors.py)
def test_ray_tasks_stop_on_sigterm_and_sigint_and_resume(setup):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'cxrbench[ray]')")
    root, reference = setup
    extra = ["--executor", "ray", "--ray-workers", "2"]
    line = _interrupt(root, "ray", extra, signal.SIGTERM, ["cxrbench.submissions.worker", "raylet"])
    _resume_command(line, root, "ray", extra)
    _interrupt(root, "ray", extra, signal.SIGINT, ["raylet"])
    _same_record(_complete(root, "ray", extra), reference)
