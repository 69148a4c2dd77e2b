"""The bubblewrap command line a submission's worker runs under.

Inside, the process sees (and nothing else; `README.md`, "What your code can see"):

| path | what | access |
|---|---|---|
| `/usr`, `/lib*`, `/bin`, `/sbin` | the OS's programs and libraries | read-only |
| `/etc/ld.so.cache`, `/etc/localtime`, ... | the few `/etc` files libraries read (never passwd, shadow) | read-only |
| the Python installation and its site-packages | at their own paths | read-only |
| `/sandbox/python` | a copy of the cxrbench package (`PYTHONPATH`) | read-only |
| `/sandbox/submission` | a copy of exactly the submission's hashed files (`staging.py`) | read-only |
| `/sandbox/work` (= `$HOME`, cwd) | the inputs it may see, its output shards | read-write, private |
| `/tmp` | part of the private scratch | read-write |
| `/sandbox/compile-cache` | this submission's compile cache (`TORCHINDUCTOR_CACHE_DIR`), in the scratch | read-write |
| `/sandbox/hub/models--org--name` | the Hub cache folder of a model its manifest names by Hub id (`hub.py`) | read-only |
| `/proc`, `/dev` | its own PID namespace's proc; null, zero, random, urandom, tty (+ `/dev/nvidia*` on CUDA) | |

New user, mount, PID, IPC, UTS, network (loopback only) and cgroup namespaces; uid/gid 65534
inside; every capability dropped; a new session (no terminal injection); dies with its parent.

No host folder of the submission, the cache or the cxrbench package is named inside: what the
sandbox mounts from them are copies in the run's temporary folders (a bind mount shows its
source's path in /proc/self/mountinfo, so a neutral mount point alone would not hide it), and the
editable install's files that map the package to its source folders are blanked. The Python
installation is the exception: it is bound where it is installed (copying it per run is not
possible), so its path is visible.
"""

from __future__ import annotations

import atexit
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

SANDBOX = Path("/sandbox")
SUBMISSION = SANDBOX / "submission"
WORK = SANDBOX / "work"
COMPILE_CACHE = SANDBOX / "compile-cache"
PACKAGE = SANDBOX / "python"  # holds the cxrbench package; the sandbox's PYTHONPATH
HUB = SANDBOX / "hub"
UID = 65534  # "nobody": no files of the host belong to it

#: What libraries read from /etc (dynamic loader, time zone, locale, TLS roots); no accounts.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "nsswitch.conf",
             "locale.alias", "ssl/certs", "alternatives")
#: Top-level system folders (bound read-only when they are real folders, re-created when symlinks).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt/conda")


def python_roots() -> list[str]:
    """Folders the worker's Python needs: the installation and its site-packages (the cxrbench
    package is copied, `staged_package`)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sysconfig.get_paths()["stdlib"],
             os.path.dirname(os.path.realpath(sys.executable))}
    roots.update(site.getsitepackages())
    existing = sorted({os.path.realpath(r) for r in roots if r and os.path.isdir(r)} |
                      {r for r in roots if r and os.path.isdir(r)})
    # drop folders already inside another bound one (shorter first), keeping /usr-style system roots
    out: list[str] = []
    for r in existing:
        if not any(r == o or r.startswith(o.rstrip("/") + "/") for o in out):
            out.append(r)
    return out


def package_folders() -> dict[str, list[str]]:
    """{part of the cxrbench namespace: its folders} (four parts, each possibly in its own folder)."""
    import cxrbench
    import cxrbench.baselines
    import cxrbench.leaderboard
    import cxrbench.tasks

    # an editable install also lists its finder's placeholder entry: only real folders count
    return {m.__name__: [str(Path(p).resolve()) for p in m.__path__ if os.path.isdir(p)]
            for m in (cxrbench, cxrbench.baselines, cxrbench.leaderboard, cxrbench.tasks)}


@lru_cache(maxsize=1)
def staged_package() -> Path:
    """A copy of the cxrbench package, made once per process (with its bytecode: the evaluator's
    own), mounted at PACKAGE: the sandbox imports cxrbench without a path of its source folders."""
    root = Path(tempfile.mkdtemp(prefix="cxrbench-package-"))
    atexit.register(shutil.rmtree, root, True)
    for name, folders in package_folders().items():
        for folder in folders:
            shutil.copytree(folder, root.joinpath(*name.split(".")), dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.partial", ".*"))
    return root


@lru_cache(maxsize=1)
def blanked_files() -> tuple[str, ...]:
    """The editable install's files that map cxrbench to its source folders (finder, .pth, the
    install's URL): blanked inside, where the package comes from PACKAGE instead."""
    out = []
    for sp in site.getsitepackages():
        folder = Path(sp)
        out += [str(p) for pattern in ("__editable__*cxrbench*", "cxrbench-*.dist-info/direct_url.json")
                for p in sorted(folder.glob(pattern)) if p.is_file()]
    return tuple(out)


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


def command(worker: list[str], *, work: Path, submission: Path, package: Path, compile_cache: Path | None,
            device: str, shm_bytes: int, env: dict[str, str], empty: Path,
            mounts: Sequence[tuple[str, str]] = ()) -> list[str]:
    """The full argv: `bwrap <options> -- <worker...>`; `env` becomes the whole environment inside.

    `submission`, `package` and `compile_cache` are the copies to mount; `empty` an empty file that
    blanks the editable install's files; `mounts` the (host, inside) Hub snapshots to bind read-only."""
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
    args += _blanks(roots, under_tmp, empty, late=False)
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
    args += ["--ro-bind", str(submission), str(SUBMISSION), "--ro-bind", str(package), str(PACKAGE),
             "--bind", str(work), str(WORK), "--bind", str(work / "tmp"), "/tmp"]
    # an installation under /tmp (a clone or venv there) is bound after the private /tmp, on top of it
    for root in under_tmp:
        args += ["--ro-bind", root, root]
    args += _blanks(roots, under_tmp, empty, late=True)
    if compile_cache is not None:
        args += ["--bind", str(compile_cache), str(COMPILE_CACHE)]
    for repo_folder, inside in mounts:  # the Hub snapshots a manifest names, read-only
        args += ["--ro-bind", repo_folder, inside]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    # the root itself is a tmpfs: read-only, or it would be unbounded memory to write into
    args += ["--remount-ro", "/", "--chdir", str(WORK), "--"]
    return args + worker


def _blanks(roots: list[str], under_tmp: list[str], empty: Path, *, late: bool) -> list[str]:
    """`--ro-bind EMPTY FILE` over each blanked file inside a bound root (after that root's own bind)."""
    out = []
    for path in blanked_files():
        root = next((r for r in roots if path.startswith(r.rstrip("/") + "/")), None)
        if root is not None and (root in under_tmp) == late:
            out += ["--ro-bind", str(empty), path]
    return out


def visible_roots(*folders: Path) -> list[str]:
    """Host folders whose content the sandbox can see, besides `folders` (the submission, its copy,
    the run folder): for the check that the cache and results stay outside."""
    roots = [f"/{d}" for d in SYSTEM_DIRS if (Path("/") / d).is_dir() and not (Path("/") / d).is_symlink()]
    roots += python_roots() + [f for parts in package_folders().values() for f in parts]
    return roots + [str(f) for f in folders]


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
