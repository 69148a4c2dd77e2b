"""Resource limits for a submission's process tree, and which mechanism enforces each one.

- wall clock: the parent's deadline; on expiry the whole tree dies with bubblewrap's PID namespace;
- memory: a cgroup v2 child group (`memory.max`, `pids.max`) where this process may create one;
  otherwise RLIMIT_AS per process (CPU runs; CUDA reserves huge virtual ranges, so none there)
  plus a tree-wide proportional-set-size watchdog;
- processes: RLIMIT_NPROC (the kernel ignores it for uid 0, so under root the watchdog counts the
  tree) or the cgroup's `pids.max`;
- file size: RLIMIT_FSIZE per file, and the watchdog caps the scratch folder's total size and its
  number of files and folders (work folder, /tmp and the compile cache are all in it).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from cxrbench.errors import SubmissionError


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 1800
    memory_gb: float = 16
    network: bool = False
    threads: int | None = None  # OMP/MKL threads for the submission's process (None: inherit)
    max_processes: int = 64
    max_file_gb: float = 8  # any one file the submission writes
    max_scratch_gb: float = 32  # everything it writes (scratch folder, /tmp, compile cache and /dev/shm tmpfs)
    max_scratch_files: int = 10_000  # files and folders in the scratch folder (an inode flood stops here)
    #: False only with `--unsafe-no-sandbox`: the code then runs without bubblewrap
    sandboxed: bool = True

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gb * (1 << 30))


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup(root: Path) -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return root / line[3:].lstrip("/")
    except OSError:
        return None
    return None


def cgroup_parent(root: Path = CGROUP_ROOT) -> Path | None:
    """A cgroup v2 folder under which this process may create a child with memory and pids control."""
    if not (root / "cgroup.controllers").is_file():
        return None  # cgroup v1 or none
    own = _own_cgroup(root)
    if own is None or not own.is_dir():
        return None
    try:
        enabled = (own / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    if not {"memory", "pids"} <= set(enabled) or not os.access(own, os.W_OK):
        return None
    return own


class TreeLimits:
    """Where each limit is enforced for one run; `preexec()` runs in the child before exec."""

    def __init__(self, limits: Limits, device: str, *, cgroup_root: Path = CGROUP_ROOT, create: bool = True):
        """`create=False`: only say what would be in force (no cgroup is made)."""
        self.limits = limits
        self.device = device
        self.root_user = os.geteuid() == 0
        self.cgroup: Path | None = None
        parent = cgroup_parent(cgroup_root)
        if parent is not None and not create:
            self.cgroup = parent  # what describe() reports; preexec/close are never called on this one
        elif parent is not None:
            try:
                group = parent / f"cxrbench-{os.getpid()}-{os.urandom(4).hex()}"
                group.mkdir()
                (group / "memory.max").write_text(str(limits.memory_bytes))
                if (group / "memory.swap.max").exists():
                    (group / "memory.swap.max").write_text("0")
                (group / "pids.max").write_text(str(limits.max_processes))
                self.cgroup = group
            except OSError:
                self.cgroup = None  # not delegated after all: rlimits and the watchdog

    @property
    def address_space_limit(self) -> bool:
        return self.cgroup is None and self.device != "cuda"

    @property
    def watchdog_memory(self) -> bool:
        return self.cgroup is None

    @property
    def watchdog_processes(self) -> bool:
        return self.cgroup is None and self.root_user

    def describe(self) -> dict:
        """What the record says about the limits in force."""
        if self.cgroup is not None:
            memory, procs = "cgroup", "cgroup"
        else:
            memory = ("rlimit+watchdog" if self.address_space_limit else "watchdog")
            procs = "watchdog" if self.root_user else "rlimit"
        return {"memory_limit": memory, "memory_gb": self.limits.memory_gb, "process_limit": procs,
                "max_processes": self.limits.max_processes, "max_file_gb": self.limits.max_file_gb,
                "max_scratch_gb": self.limits.max_scratch_gb, "max_scratch_files": self.limits.max_scratch_files,
                "timeout_s": self.limits.timeout_s}

    def preexec(self) -> None:
        """Child side, after fork and before exec: join the cgroup, set the per-process rlimits."""
        if self.cgroup is not None:
            (self.cgroup / "cgroup.procs").write_text("0")
        lim = self.limits
        if self.address_space_limit:
            resource.setrlimit(resource.RLIMIT_AS, (lim.memory_bytes, lim.memory_bytes))
        fsize = int(lim.max_file_gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NPROC, (lim.max_processes, lim.max_processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def close(self) -> None:
        if self.cgroup is not None:
            try:
                self.cgroup.rmdir()
            except OSError:
                pass


def tree_pids(root_pid: int) -> list[int]:
    """`root_pid` and all its descendants (a PID namespace's orphans are re-parented inside it)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def proportional_memory(pid: int) -> int:
    """Bytes of memory a process accounts for (PSS: shared pages split between their users)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def start_time(pid: int) -> int | None:
    """When a process started (clock ticks since boot): with its pid, it names one process, never a later one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return int(stat[stat.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def folder_usage(path: Path) -> tuple[int, int]:
    """(allocated bytes, entries) under a folder: sparse files count what they occupy, links are
    never followed, every file, folder and link is one entry."""
    total, entries, todo = 0, 0, [str(path)]
    while todo:
        try:
            with os.scandir(todo.pop()) as it:
                for entry in it:
                    entries += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
        except OSError:
            continue
    return total, entries


def check_tree(tree: TreeLimits, root_pid: int, scratch: Path) -> None:
    """One watchdog pass over the process tree; SubmissionError when a tree-wide limit is exceeded."""
    lim = tree.limits
    if tree.watchdog_memory or tree.watchdog_processes:
        pids = tree_pids(root_pid)
        if tree.watchdog_processes and len(pids) > lim.max_processes + 2:  # + bwrap's own two
            raise SubmissionError(f"started {len(pids) - 2} processes; the limit is {lim.max_processes} "
                                  f"(the whole process tree was killed)")
        if tree.watchdog_memory:
            used = sum(proportional_memory(p) for p in pids)
            if used > lim.memory_bytes:
                raise SubmissionError(f"process tree used {used / (1 << 30):.1f} GB; the memory limit is "
                                      f"{lim.memory_gb:g} GB (the whole process tree was killed)")
    check_scratch(lim, scratch)


def check_scratch(lim: Limits, scratch: Path) -> None:
    """SubmissionError when the scratch folder (work, /tmp, compile cache) holds more than the limits."""
    written, entries = folder_usage(scratch)
    if written > lim.max_scratch_gb * (1 << 30):
        raise SubmissionError(f"wrote {written / (1 << 30):.2f} GB to its scratch folder (work, /tmp, compile "
                              f"cache); the limit is {lim.max_scratch_gb:g} GB")
    if entries > lim.max_scratch_files:
        raise SubmissionError(f"made {entries} files and folders in its scratch folder (work, /tmp, compile "
                              f"cache); the limit is {lim.max_scratch_files}")
