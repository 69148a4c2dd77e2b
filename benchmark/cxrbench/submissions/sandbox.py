"""Run untrusted submission code under bubblewrap, within tree-wide limits, and check what comes back.

The operating system isolates it (`bwrap.py`: namespaces, a minimal read-only view, private
scratch, no network, uid 65534, no capabilities); `limits.py` bounds its process tree (memory,
process count, file sizes, wall clock); `protocol.py` reads its events and output shards so
that nothing it writes can hang or crash this process. The audit hook in `worker.py` stays as a
second layer. Without bubblewrap, code runs only when the user opted out (`--unsafe-no-sandbox`),
and the record says so (`isolation()`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cxrbench.errors import Interrupted, SubmissionError
from cxrbench.submissions import bwrap
from cxrbench.submissions.compile_cache import check_in, check_out
from cxrbench.submissions.limits import Limits, TreeLimits, check_scratch, check_tree, start_time, tree_pids
from cxrbench.submissions.manifest import Submission
from cxrbench.submissions.protocol import StreamReader, load_shard, parse_event

__all__ = ["Limits", "check_probabilities", "isolation", "run_worker"]

#: (allowed dtypes, shape) of each output shard the parent asked for
OutputSpec = dict[str, tuple[tuple[str, ...], tuple[int, ...]]]
WATCH_EVERY_S = 0.2
ENV_KEEP = ("LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "TZ")
#: the submission's PATH: the system's program folders (the host's PATH names the user's own folders)
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
UNSANDBOXED_READ = ["/usr", "/lib", "/lib64", "/etc", "/proc", "/sys", "/dev", "/opt"]


def isolation(limits: Limits, device: str) -> dict:
    """What the record says about how submission code is isolated under these limits."""
    tree = TreeLimits(limits, device, create=False)
    if not limits.sandboxed:
        return {"mode": "none", "reason": "--unsafe-no-sandbox: no bubblewrap; an audit hook, rlimits and a "
                "watchdog only", **tree.describe()}
    return {"mode": "bubblewrap", "network": "none", "uid": bwrap.UID, **tree.describe()}


def run_worker(
    submission: Submission,
    request: dict,
    files: dict[str, Callable[[Path], None]],
    limits: Limits,
    *,
    denied: list[Path],
    outputs: OutputSpec,
    device: str = "cpu",
    on_shard: Callable[[str, np.ndarray], None] | None = None,
    on_event: Callable[[dict], None] | None = None,
    compile_cache: Path | None = None,
    hub: dict | None = None,
) -> None:
    """Run one worker to completion; `on_shard(name, array)` receives each checked output shard.

    The worker runs `submission.entry_point` from the copy of exactly its hashed files
    (`Submission.staged`). `files` maps file names in the scratch directory to writers (what the
    submission may see); `outputs` names every shard the worker may return with its dtype(s) and
    exact shape; `denied` (the cache, the results folder) must lie outside everything the sandbox
    sees; `compile_cache` is where this submission's compile cache is kept between runs
    (`compile_cache.py`). Raises SubmissionError (one line) for anything the submission does wrong.

    `hub`: {block field: Hub snapshot} (`Submission.hub`): each snapshot's cache folder is shown
    read-only, and the worker is told where each id's snapshot is (`request["hub"]`: id -> folder).
    """
    if limits.sandboxed and (why := bwrap.unavailable_reason()):
        raise SubmissionError(f"{why}; submission code does not run unsandboxed unless you pass "
                              f"--unsafe-no-sandbox")
    staged = submission.staged()
    hub_ids = _hub_ids(submission, hub or {})
    with tempfile.TemporaryDirectory(prefix="cxrbench-sandbox-") as tmp:
        run_dir = Path(tmp)
        work = run_dir / "work"
        (work / "tmp").mkdir(parents=True)
        (work / "out").mkdir()
        for name, writer in files.items():
            writer(work / name)
        mounts = [(str(repo), str(bwrap.HUB / repo.name)) for repo in sorted({r for r, _ in hub_ids.values()})]
        if limits.sandboxed:
            package = bwrap.staged_package()
            visible = bwrap.visible_roots(submission.root, staged, run_dir, package) + [host for host, _ in mounts]
            for d in denied:
                if (clash := bwrap.overlaps(Path(d), visible)) is not None:
                    raise SubmissionError(f"{d} would be visible to the submission (it overlaps {clash}); "
                                          f"keep the cache and results outside the submission and Python folders")
        cache_here = check_out(compile_cache, run_dir)
        if limits.sandboxed:
            sub_in, work_in = bwrap.SUBMISSION, bwrap.WORK
            cc_in = bwrap.COMPILE_CACHE if cache_here is not None else None
            allowed_read = bwrap.python_roots() + [str(bwrap.PACKAGE), "/usr", "/lib", "/lib64", "/etc", "/proc",
                                                   "/sys", "/dev"]
        else:
            sub_in, work_in, cc_in = staged, work, cache_here
            allowed_read = bwrap.python_roots() + [f for fs in bwrap.package_folders().values() for f in fs] + \
                UNSANDBOXED_READ
        inside = dict(mounts) if limits.sandboxed else {host: host for host, _ in mounts}
        req = dict(request)
        req.update(submission_dir=str(sub_in), entry_point=submission.entry_point, device=device,
                   hub={value: str(Path(inside[str(repo)]) / rel) for value, (repo, rel) in hub_ids.items()},
                   allowed_read=allowed_read + list(inside.values()) + ([str(cc_in)] if cc_in else []),
                   allowed_write=["/dev/null", "/dev/shm", str(work_in)] + ([str(cc_in)] if cc_in else []),
                   denied=[] if limits.sandboxed else [str(d) for d in denied])
        (work / "request.json").write_text(json.dumps(req))
        env = _environment(limits, work_in, cc_in)
        worker = [sys.executable, "-m", "cxrbench.submissions.worker", str(work_in)]
        tree = TreeLimits(limits, device)
        succeeded = False
        try:
            if limits.sandboxed:
                shm = max(64 << 20, limits.memory_bytes // 4)
                empty = run_dir / "empty"
                empty.touch(mode=0o444)
                env["PYTHONPATH"] = str(bwrap.PACKAGE)
                cmd = bwrap.command(worker, work=work, submission=staged, package=bwrap.staged_package(),
                                    compile_cache=cache_here, device=device, shm_bytes=shm, env=env, empty=empty,
                                    mounts=mounts)
                popen_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # finds bwrap; not passed inside
            else:
                cmd = (["unshare", "--net", "--"] if not limits.network and _unshare_works() else []) + worker
                popen_env = env
            _drive(cmd, popen_env, work, run_dir, tree, limits, outputs, submission.root.name, on_shard, on_event)
            succeeded = True
        finally:
            tree.close()
            check_in(cache_here, compile_cache, keep=succeeded)


def _hub_ids(submission: Submission, hub: dict) -> dict[str, tuple[Path, Path]]:
    """{Hub id as the manifest writes it: (its repository's cache folder, the snapshot inside it)}. The
    whole repository folder is shown: the snapshot's files are links into its `blobs/`."""
    manifest = submission.manifest
    out = {}
    for field, snapshot in hub.items():
        block, name = field.split(".")
        repo = snapshot.folder.parent.parent  # <cache>/models--org--name/snapshots/<commit>
        out[getattr(getattr(manifest, block), name)] = (repo, snapshot.folder.relative_to(repo))
    return out


def _environment(limits: Limits, work: Path, compile_cache: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ENV_KEEP}
    # no bytecode is written: the submission's copy holds none but its hashed files, and Python
    # reads the installation's own (a private PYTHONPYCACHEPREFIX would recompile every library
    # module, torch included, in every run)
    env.update(PATH=SANDBOX_PATH, HOME=str(work), TMPDIR=str(work / "tmp"), USER="sandbox", LOGNAME="sandbox",
               PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", MPLCONFIGDIR=str(work / "tmp"),
               TORCHINDUCTOR_CACHE_DIR=str(compile_cache if compile_cache else work / "tmp" / "inductor"))
    if compile_cache is not None:
        env["TRITON_CACHE_DIR"] = str(compile_cache / "triton")
    if limits.threads:
        env.update(OMP_NUM_THREADS=str(limits.threads), MKL_NUM_THREADS=str(limits.threads))
    if "CUDA_VISIBLE_DEVICES" in env and limits.sandboxed:  # only the job's GPUs are in the sandbox: from 0
        from cxrbench.submissions.gpu_devices import sandbox_visible_devices

        env.update(CUDA_VISIBLE_DEVICES=sandbox_visible_devices(env["CUDA_VISIBLE_DEVICES"]),
                   CUDA_DEVICE_ORDER="PCI_BUS_ID")
    return env


def _drive(cmd, env, work: Path, scratch: Path, tree: TreeLimits, limits: Limits, outputs: OutputSpec, who: str,
           on_shard, on_event) -> None:
    """Start the worker, read its events until it exits or a limit is hit; kill the tree on any exit.

    `scratch` holds everything the run may write (work folder, /tmp, compile cache): the watchdog's quota."""
    start = time.monotonic()
    cmd, pass_fds = _hide_arguments(cmd)
    try:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, preexec_fn=tree.preexec, start_new_session=True,
                                pass_fds=pass_fds)
    finally:
        for fd in pass_fds:
            os.close(fd)
    with _LOCK:
        _LIVE[proc.pid] = proc
    reader = StreamReader(proc.stdout, proc.stderr)
    seen: set[str] = set()
    members: dict[int, int | None] = {}  # every process seen in the tree (unsandboxed: killed at the end)
    error = None
    next_watch = start
    exited_at = None
    try:
        while True:
            now = time.monotonic()
            if proc.poll() is not None:
                exited_at = exited_at or now
                if now - exited_at > 2.0:  # a leftover process holds the pipes (unsandboxed runs only)
                    break
            if now - start > limits.timeout_s:
                raise SubmissionError(f"timed out after {limits.timeout_s:.0f} s (limit set by the task budget)")
            if now >= next_watch and exited_at is None:
                if not limits.sandboxed:
                    members.update((p, start_time(p)) for p in tree_pids(proc.pid) if p not in members)
                check_tree(tree, proc.pid, scratch)
                next_watch = now + WATCH_EVERY_S
            lines = reader.poll(min(WATCH_EVERY_S, max(0.0, limits.timeout_s - (now - start))))
            if not reader.open:
                lines += reader.finish()
            for line in lines:
                msg = parse_event(line, outputs, seen)
                if on_event:
                    on_event(msg)
                if msg["event"] == "shard":
                    dtypes, shape = outputs[msg["name"]]
                    array = load_shard(work / "out" / f"{msg['name']}.npy", dtypes, shape, f"{who} {msg['name']}")
                    if on_shard:
                        on_shard(msg["name"], array)
                elif msg["event"] == "error":
                    error = msg["error"]
            if not reader.open:
                break
        # streams closed: the worker is exiting; wait for it within what is left of the deadline
        left = limits.timeout_s - (time.monotonic() - start)
        try:
            proc.wait(timeout=max(0.5, left))
        except subprocess.TimeoutExpired:
            raise SubmissionError(f"timed out after {limits.timeout_s:.0f} s (limit set by the task budget)") from None
        check_scratch(limits, scratch)  # what it wrote after the watchdog's last look counts too
    except SubmissionError as exc:
        _raise_if_stopped(proc)
        tail = reader.stderr_tail(2)
        if "timed out" in str(exc) and tail:
            exc = SubmissionError(f"{exc}; its last output: {' | '.join(t[:200] for t in tail)}")
        raise SubmissionError(f"{who}: {exc}") from None
    finally:
        _kill(proc, members)
        reader.close()
        with _LOCK:
            _LIVE.pop(proc.pid, None)
    _raise_if_stopped(proc)
    if proc.returncode != 0:
        tail = reader.stderr_tail()
        if error is None:
            if proc.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL, -signal.SIGSEGV) or \
                    any("MemoryError" in s for s in tail):
                error = f"killed (exit {proc.returncode}); memory limit {limits.memory_gb:g} GB?"
            else:
                error = f"exit code {proc.returncode}: {' | '.join(tail) or 'no output'}"
        raise SubmissionError(f"{who}: {error}")


def _hide_arguments(cmd: list[str]) -> tuple[list[str], tuple[int, ...]]:
    """bwrap's options through a pipe (`--args FD`): bwrap is PID 1 inside, and its command line
    would otherwise show the sandbox the host paths of its folders."""
    if not cmd or cmd[0] != "bwrap":
        return cmd, ()
    sep = cmd.index("--")
    blob = b"".join(a.encode() + b"\0" for a in cmd[1:sep])
    if len(blob) > 60_000:  # beyond one pipe buffer: pass them plainly rather than block
        return cmd, ()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, blob)
    os.close(write_fd)
    return ["bwrap", "--args", str(read_fd), *cmd[sep:]], (read_fd,)


#: the workers this process drives (by pid), for `stop_all_workers`; those it stopped on purpose
_LIVE: dict[int, subprocess.Popen] = {}
_STOPPED: set[int] = set()
_LOCK = threading.Lock()


def stop_all_workers() -> int:
    """Kill every submission worker tree this process is driving (an interrupted run, from any
    thread); each `run_worker` then raises `Interrupted` instead of blaming the submission.
    Returns how many were running."""
    with _LOCK:
        pids = list(_LIVE)
        _STOPPED.update(pids)
    for pid in pids:  # signals only: the thread that drives each worker waits for it
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    return len(pids)


def _raise_if_stopped(proc: subprocess.Popen) -> None:
    with _LOCK:
        stopped = proc.pid in _STOPPED
        _STOPPED.discard(proc.pid)
    if stopped:
        raise Interrupted(signal.SIGTERM)


def _kill(proc: subprocess.Popen, members: dict[int, int | None]) -> None:
    """Kill the worker's whole tree: its process group and (under bwrap) its PID namespace; without
    bubblewrap also every process seen in its tree (a daemon leaves the group and the tree, but the
    worker is its subreaper while it lives: the watchdog saw it)."""
    tree = list(members.items()) + [(p, start_time(p)) for p in tree_pids(proc.pid)[1:]]
    for pid, started in tree:
        if pid != proc.pid and started is not None and start_time(pid) == started:  # the same process, not a reused pid
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()
    _reap_adopted([(pid, started) for pid, started in tree if pid != proc.pid and started is not None])


def _reap_adopted(tree: list[tuple[int, int]], wait_s: float = 1.0) -> None:
    """Collect the exit of each killed tree member that was re-parented to this process (the driver
    is its descendants' subreaper, `adopt_orphans`: bwrap's namespace child outlives a killed bwrap
    by a moment, then stays a zombie of the driver for every sandbox ever killed). Only a process
    still named by its pid and start time, and a child of this process, is waited for."""
    deadline = time.monotonic() + wait_s
    left = list(tree)
    while left and time.monotonic() < deadline:
        pending = []
        for pid, started in left:
            state, ppid = _state_and_parent(pid)
            if state is None or start_time(pid) != started:
                continue  # gone (its parent collected it), or a reused pid
            if state == "Z" and ppid == os.getpid():
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                continue
            pending.append((pid, started))  # still dying, or its parent (a member) not yet gone
        left = pending
        if left:
            time.sleep(0.02)


def _state_and_parent(pid: int) -> tuple[str | None, int | None]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[1])
    except (OSError, ValueError, IndexError):
        return None, None


_UNSHARE: bool | None = None


def _unshare_works() -> bool:
    global _UNSHARE
    if _UNSHARE is None:
        try:
            _UNSHARE = bool(shutil.which("unshare")) and subprocess.run(
                ["unshare", "--net", "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            _UNSHARE = False
    return _UNSHARE


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
