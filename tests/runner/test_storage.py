"""A full, read-only or failing cache fails the job that hit it, with one line (path, bytes needed,
bytes free), never the driver; two builders publishing one entry never kill the plan."""

import errno
import os
import re
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from cxrbench.errors import ConfigError
from cxrbench.runner.cache import Cache, CorruptEntryError
from cxrbench.runner.executors import run_plan
from cxrbench.runner.executors.local import LocalExecutor
from cxrbench.runner.plan import Job, Plan, run_job
from cxrbench.runner.storage import check_writable, space_warning, storage_failure

ONE_LINE = re.compile(r"^cache write failed \((no space left on the device|short write: the filesystem is full or "
                      r"over quota)\) at \S+: needs about [\d.]+ [kMG]?B, [\d.]+ (bytes|[kMG]B) free$")


def _mount_tmpfs(where: Path, options: str) -> Path:
    """A tmpfs at `where` (root may mount one; elsewhere the test skips)."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip() or 'not root'})")
    return where


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 2 MB tmpfs."""
    yield _mount_tmpfs(tmp_path / "tmpfs", "size=2m")
    subprocess.run(["umount", "-l", str(tmp_path / "tmpfs")], check=False)


def _write(*, cache, key, size):
    with cache.building("thing", key) as tmp:
        (tmp / "blob").write_bytes(os.urandom(size))


def _numpy_save(*, cache, key, size):  # numpy allocates the file first: OSError without errno
    with cache.building("thing", key) as tmp, open(tmp / "blob", "wb") as fh:
        np.save(fh, np.ones(size, np.uint8))


def _sum(*, cache, keys):
    return sum((cache.path("thing", k) / "blob").stat().st_size for k in keys)


def _key(c: str) -> str:
    return c * 2 + "0" * 62


@pytest.mark.parametrize("writer,size", [(_write, 3_000_000), (_numpy_save, 3_000_000), (_numpy_save, 20_000_000)],
                         ids=["write", "numpy-short-write", "numpy-allocate"])
def test_a_full_cache_fails_the_job_with_one_line_and_the_plan_goes_on(small_tmpfs, writer, size):
    plan = Plan()
    big, small = _key("a"), _key("b")
    plan.add(Job(big, "generate", "thing", "big", writer, dict(key=big, size=size), estimate=3_000_000))
    plan.add(Job(small, "generate", "thing", "small", _write, dict(key=small, size=1000)))
    plan.add(Job("score-big", "score", None, "score big", _sum, dict(keys=[big]), deps=(big,)))
    plan.add(Job("score-small", "score", None, "score small", _sum, dict(keys=[small]), deps=(small,)))
    cache = Cache(small_tmpfs)
    with LocalExecutor() as executor:
        outcomes = run_plan(plan, executor, cache)
    error = outcomes[big].error
    assert ONE_LINE.match(error), error
    assert f"{size / 1e6:.1f} MB" in error and str(small_tmpfs) in error
    assert outcomes["score-big"].error.startswith("not run: big failed (cache write failed")
    assert outcomes[small].error is None and outcomes["score-small"].value == 1000  # the other work went on
    assert not list(small_tmpfs.rglob("*.tmp"))  # nothing half-written is left


def test_read_only_and_io_errors_are_one_line_too(tmp_path):
    eio = storage_failure(OSError(errno.EIO, "Input/output error", str(tmp_path / "x")), tmp_path, needed=2_500_000)
    assert eio.startswith(f"cache write failed (input/output error) at {tmp_path / 'x'}: needs about 2.5 MB, ")
    erofs = storage_failure(OSError(errno.EROFS, "Read-only file system", "/c/e"), tmp_path)
    assert erofs.startswith("cache write failed (read-only file system) at /c/e: needs more space, ")
    assert storage_failure(OSError(errno.ENOENT, "No such file"), tmp_path) is None  # a bug stays a bug
    assert storage_failure(ValueError("x"), tmp_path) is None


def test_a_read_only_cache_is_one_line_before_anything_runs(tmp_path):
    where = _mount_tmpfs(tmp_path / "ro", "size=1m,ro")
    try:
        with pytest.raises(ConfigError, match=r"^cache \S+ cannot be written \(read-only file system\): every stage"):
            check_writable(where)
        with pytest.raises(ConfigError, match=r"cache \S+/sub cannot be created \(Read-only file system\)"):
            Cache(where / "sub")
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_the_free_space_check_warns_when_the_plan_needs_more(tmp_path):
    assert space_warning(tmp_path, 1) is None
    warning = space_warning(tmp_path, 10**18)
    assert warning.startswith(f"the cache {tmp_path} has ") and "write about 1000000.0 TB" in warning
    assert "cxrbench cache gc --keep-published" in warning


def _build(cache: Cache, key: str, text: str) -> None:
    with cache.building("thing", key) as tmp:
        (tmp / "value.txt").write_text(text)


def test_publishing_an_entry_someone_else_published_is_a_no_op_when_it_is_the_same(tmp_path):
    said = []
    key = _key("c")
    first, second = Cache(tmp_path, report=said.append), Cache(tmp_path, report=said.append)
    _build(first, key, "same")
    _build(second, key, "same")  # built at the same time, published second: nothing to do
    assert "published by another builder meanwhile, with the same checksums" in said[0]
    assert (first.path("thing", key) / "value.txt").read_text() == "same"
    assert not [p for p in first.path("thing", key).parent.iterdir() if p.name.startswith(".")]


def test_a_different_second_publication_is_a_corrupt_entry_error_naming_both(tmp_path):
    key = _key("d")
    _build(Cache(tmp_path), key, "one")
    with pytest.raises(CorruptEntryError) as raised:
        _build(Cache(tmp_path), key, "two")
    message = str(raised.value)
    kept = re.search(r"kept at (\S+\.conflict)", message).group(1)
    assert str(Cache(tmp_path).path("thing", key)) in message and "value.txt differs" in message
    assert (Cache(tmp_path).path("thing", key) / "value.txt").read_text() == "one"  # the published one stays
    assert open(os.path.join(kept, "value.txt")).read() == "two"


def _publish_twice(*, cache, key):
    _build(Cache(cache.root), key, f"other {uuid.uuid4().hex}")  # another builder finishes first
    _build(cache, key, "mine")


def test_a_conflicting_publication_fails_its_job_not_the_plan(tmp_path):
    key = _key("e")
    result = run_job(Job(key, "train", "thing", "conflict", _publish_twice, dict(key=key)), Cache(tmp_path))
    assert result.error.startswith(f"cache entry {Cache(tmp_path).path('thing', key)} was published by another "
                                   f"builder with other contents")
