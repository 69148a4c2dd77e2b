"""The bubblewrap command line a submission's worker runs under.

Inside, the process sees (and nothing else; `README.md`, "What your code can see"):

| path | what | access |
|---|---|---|
| `/usr`, `/lib*`, `/bin`, `/sbin` | the OS's programs and libraries | read-only |
| `/etc/ld.so.cache`, `/etc/localtime`, ... | the few `/etc` files libraries read (never passwd, shadow) | read-only |
| the Python installation, its site-packages, the harness package | at their own paths | read-only |
| `/sandbox/submission` | the submission folder | read-only |
| `/sandbox/work` (= `$HOME`, cwd) | the inputs it may see, its output shards | read-write, private |
| `/tmp` | part of the private scratch | read-write |
| `/sandbox/compile-cache` | this submission's persistent compile cache (`TORCHINDUCTOR_CACHE_DIR`) | read-write |
| `/sandbox/hub/models--org--name` | the Hub cache folder of a model its manifest names by Hub id (`hub.py`) | read-only |
| `/proc`, `/dev` | its own PID namespace's proc; null, zero, random, urandom, tty (+ `/dev/nvidia*` on CUDA) | |

New user, mount, PID, IPC, UTS, network (loopback only) and cgroup namespaces; uid/gid 65534
inside; every capability dropped; a new session (no terminal injection); dies with its parent.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

SANDBOX = Path("/sandbox")
SUBMISSION = SANDBOX / "submission"
WORK = SANDBOX / "work"
COMPILE_CACHE = SANDBOX / "compile-cache"
HUB = SANDBOX / "hub"
UID = 65534  # "nobody": no files of the host belong to it

#: What libraries read from /etc (dynamic loader, time zone, locale, TLS roots); no accounts.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "nsswitch.conf",
             "locale.alias", "ssl/certs", "alternatives")
#: Top-level system folders (bound read-only when they are real folders, re-created when symlinks).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt/conda")


def python_roots() -> list[str]:
    """Folders the worker's Python needs: the installation, its site-packages, the harness package."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sysconfig.get_paths()["stdlib"],
             os.path.dirname(os.path.realpath(sys.executable))}
    roots.update(site.getsitepackages())
    import cxrbench
    import cxrbench.baselines
    import cxrbench.leaderboard
    import cxrbench.tasks

    # `cxrbench` is a namespace package in four folders: bind each folder of each part
    for package in (cxrbench, cxrbench.baselines, cxrbench.leaderboard, cxrbench.tasks):
        roots.update(str(Path(p).resolve()) for p in package.__path__)
    existing = sorted({os.path.realpath(r) for r in roots if r and os.path.isdir(r)} |
                      {r for r in roots if r and os.path.isdir(r)})
    # drop folders already inside another bound one (shorter first), keeping /usr-style system roots
    out: list[str] = []
    for r in existing:
        if not any(r == o or r.startswith(o.rstrip("/") + "/") for o in out):
            out.append(r)
    return out


def cuda_devices() -> list[str]:
    """The NVIDIA device nodes a CUDA run needs: the control devices and the job's own GPUs
    (`CUDA_VISIBLE_DEVICES`; all of them when unset); none on a machine without a GPU."""
    from cxrbench.submissions.gpu_devices import device_nodes

    return device_nodes(os.environ.get("CUDA_VISIBLE_DEVICES"))


def _other_gpus_hidden(gpus: Path) -> list[str]:
    """Over the driver's GPU listing, only the job's GPUs (an empty listing first, then theirs)."""
    from cxrbench.submissions.gpu_devices import visible_gpu_folders

    mine = visible_gpu_folders(os.environ.get("CUDA_VISIBLE_DEVICES"), gpus)
    if mine is None or not gpus.is_dir():
        return []
    return ["--tmpfs", str(gpus)] + [a for folder in mine for a in ("--ro-bind", folder, folder)]


def command(worker: list[str], *, work: Path, submission: Path, compile_cache: Path | None, device: str,
            shm_bytes: int, env: dict[str, str], mounts=()) -> list[str]:
    """The full argv: `bwrap <options> -- <worker...>`; `env` becomes the whole environment inside."""
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", str(UID), "--gid", str(UID), "--hostname", "sandbox", "--clearenv"]
    for top in SYSTEM_DIRS:
        host = Path("/") / top
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for name in ETC_FILES:
        host = Path("/etc") / name
        if host.exists():
            args += ["--ro-bind", str(host), str(host)]
    roots = [r for r in python_roots() if not any(r == f"/{d}" or r.startswith(f"/{d}/") for d in SYSTEM_DIRS)]
    under_tmp = [r for r in roots if r == "/tmp" or r.startswith("/tmp/")]
    for root in roots:
        if root not in under_tmp:
            args += ["--ro-bind", root, root]
    cpu = Path("/sys/devices/system/cpu")
    if cpu.is_dir():  # OpenMP and torch read the CPU topology
        args += ["--ro-bind", str(cpu), str(cpu)]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(shm_bytes), "--tmpfs", "/dev/shm"]
    if device == "cuda":
        for node in cuda_devices():
            args += ["--dev-bind", node, node]
        drv = Path("/proc/driver/nvidia")
        if drv.is_dir():
            args += ["--ro-bind", str(drv), str(drv)]
            args += _other_gpus_hidden(drv / "gpus")
    args += ["--ro-bind", str(submission), str(SUBMISSION), "--bind", str(work), str(WORK),
             "--bind", str(work / "tmp"), "/tmp"]
    # an installation under /tmp (a clone or venv there) is bound after the private /tmp, on top of it
    for root in under_tmp:
        args += ["--ro-bind", root, root]
    if compile_cache is not None:
        args += ["--bind", str(compile_cache), str(COMPILE_CACHE)]
    for host, inside in mounts:  # the Hub snapshots a manifest names, read-only
        args += ["--ro-bind", host, inside]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    # the root itself is a tmpfs: read-only, or it would be unbounded memory to write into
    args += ["--remount-ro", "/", "--chdir", str(WORK), "--"]
    return args + worker


def visible_roots(submission: Path, work: Path, compile_cache: Path | None) -> list[str]:
    """Host folders the sandbox can read (for the check that the cache and results stay outside)."""
    roots = [f"/{d}" for d in SYSTEM_DIRS if (Path("/") / d).is_dir() and not (Path("/") / d).is_symlink()]
    roots += python_roots() + [str(submission), str(work)]
    if compile_cache is not None:
        roots.append(str(compile_cache))
    return roots


def overlaps(path: Path, roots: list[str]) -> str | None:
    """The visible root that contains `path` or lies inside it, if any."""
    p = os.path.realpath(path)
    for r in roots:
        r = os.path.realpath(r)
        if p == r or p.startswith(r.rstrip("/") + "/") or r.startswith(p.rstrip("/") + "/"):
            return r
    return None


@lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when bubblewrap can start a sandbox here; otherwise why not (one line)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (`bwrap`) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        probe = subprocess.run([exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                                "--dev", "/dev", "--uid", str(UID), "--cap-drop", "ALL", "--", "true"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not start ({exc})"
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap cannot create namespaces here ({why}); user namespaces may be disabled"
    return None
