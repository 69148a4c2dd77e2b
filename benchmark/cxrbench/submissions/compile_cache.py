"""A submission's compile cache (torch.compile, Triton), kept between its runs on the evaluator's terms.

It lives in the cache folder, named by the submission's hash (`runner.generate.compile_cache_dir`).
For a run it is moved into the run's scratch folder, so it is mounted at /sandbox/compile-cache
from there (its host path stays out of the sandbox's mount table) and it counts in the scratch
quota, bytes and files. After a run that succeeded it goes back only if it holds nothing but files
and folders (no link, FIFO or device) within KEEP_BYTES and KEEP_FILES; otherwise it is dropped,
and the next run starts with an empty one.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

KEEP_BYTES = 2 << 30
KEEP_FILES = 10_000
IN_RUN = "compile-cache"


def check_out(kept: Path | None, run_dir: Path) -> Path | None:
    """Move the kept cache (or a new empty one) into `run_dir`; its place there, or None without a cache."""
    if kept is None:
        return None
    here = run_dir / IN_RUN
    if kept.is_dir() and _acceptable(kept):
        _move(kept, here)
    else:
        shutil.rmtree(kept, ignore_errors=True)
    here.mkdir(exist_ok=True)
    return here


def check_in(here: Path | None, kept: Path | None, *, keep: bool) -> None:
    """Move the run's cache back to where it is kept, if the run succeeded and the cache is acceptable."""
    if here is None or kept is None or not keep or not here.is_dir() or not _acceptable(here):
        return
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(kept, ignore_errors=True)  # another run of the same submission may have put one back
    try:
        _move(here, kept)
    except OSError:
        shutil.rmtree(kept, ignore_errors=True)  # a cache: losing it costs a recompilation, never a result


def _move(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        partial = dst.with_name(dst.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(src, partial, symlinks=True)
        os.rename(partial, dst)
        shutil.rmtree(src, ignore_errors=True)


def _acceptable(folder: Path) -> bool:
    """Only regular files and folders, within KEEP_BYTES and KEEP_FILES (links are never followed)."""
    total, entries, todo = 0, 0, [str(folder)]
    try:
        while todo:
            with os.scandir(todo.pop()) as it:
                for entry in it:
                    entries += 1
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        todo.append(entry.path)
                    elif not stat.S_ISREG(st.st_mode):
                        return False
                    total += st.st_blocks * 512
                    if entries > KEEP_FILES or total > KEEP_BYTES:
                        return False
    except OSError:
        return False
    return True
