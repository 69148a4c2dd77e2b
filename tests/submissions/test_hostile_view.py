"""What runs is what was hashed, and what the sandbox shows of the host.

A submission folder can hold more than its hash covers (`__pycache__`, hidden entries): none of it
may reach the sandbox. The compile cache persists between runs: it may hold no link and no flood.
Inside, nothing names a host folder (mountinfo, PATH, sys.path, the request) and a daemon never
outlives its run, with or without bubblewrap."""

from __future__ import annotations

import json
import os
import py_compile
import secrets
import sys
from pathlib import Path

import pytest
from sandbox_helpers import GEN, SIZE, decode_image, make_sub, one_line, packing, require_sandbox, run, run_generator

import cxrbench
import cxrbench.baselines
import cxrbench.leaderboard
import cxrbench.tasks
from cxrbench.errors import SubmissionError
from cxrbench.submissions import Limits, load_submission

HERE = "os.path.dirname(os.path.abspath(__file__))"  # the submission folder as its code sees it


def test_stale_bytecode_never_runs(tmp_path):
    """`__pycache__/gen.<tag>.pyc` compiled from other source with UNCHECKED_HASH (Python then never
    compares it with gen.py) is not hashed: it must not run, and the hash must not depend on it."""
    require_sandbox()
    root = make_sub(tmp_path / "sub", "pass")
    honest = load_submission(root).sha256()
    evil = tmp_path / "evil" / "gen.py"
    evil.parent.mkdir()
    evil.write_text(GEN.format(body="        return np.full((len(seeds), size, size), 200, np.uint8)"))
    pyc = root / "__pycache__" / f"gen.{sys.implementation.cache_tag}.pyc"
    py_compile.compile(str(evil), cfile=str(pyc), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    assert load_submission(root).sha256() == honest
    assert (run(root)["s0"] == 0).all()


def test_unhashed_entries_are_not_in_the_sandbox(tmp_path):
    """A hidden folder with answers, a stray `.pyc` cache: the sandbox sees the hashed files only."""
    require_sandbox()
    body = packing(f"""
    here = {HERE}
    report = {{"listing": sorted(os.listdir(here))}}
    try:
        report["answers"] = open(os.path.join(here, ".hidden", "answers.txt")).read()
    except OSError as exc:
        report["answers"] = "blocked: " + type(exc).__name__
    """)
    root = make_sub(tmp_path / "sub", body)
    token = secrets.token_hex(8)
    (root / ".hidden").mkdir()
    (root / ".hidden" / "answers.txt").write_text(token)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0" * 16)
    report = decode_image(run(root)["s0"])
    assert report["listing"] == ["gen.py", "submission.yaml"]
    assert report["answers"].startswith("blocked")


def _compile_cache_body(action: str) -> str:
    return packing(f"""
    cc = "/sandbox/compile-cache"
    report = {{"found": sorted(os.listdir(cc)), "links": [n for n in os.listdir(cc) if os.path.islink(os.path.join(cc, n))]}}
    {action}
    """)


def test_compile_cache_keeps_no_links(tmp_path):
    require_sandbox()
    cache = tmp_path / "cache" / "compile" / "abc"
    plant = "os.symlink('/etc/passwd', cc + '/passwd'); os.symlink('../../..', cc + '/up'); " \
            "open(cc + '/kernel.bin', 'wb').write(b'ok')"
    run(make_sub(tmp_path / "one", _compile_cache_body(plant)), compile_cache=cache)
    assert not any(p.is_symlink() for p in cache.parent.rglob("*"))
    report = decode_image(run(make_sub(tmp_path / "two", _compile_cache_body("")), compile_cache=cache)["s0"])
    assert report["links"] == []


@pytest.mark.parametrize("flood, limits", [
    ("for i in range(20_000): open(f'{cc}/f{i}', 'w').close()", {}),  # inodes
    ("open(cc + '/big', 'wb').write(os.urandom(96 << 20))", {"max_scratch_gb": 0.05}),  # bytes, in the scratch quota
], ids=["20000-files", "96-MB"])
def test_compile_cache_flood_is_stopped_and_not_kept(tmp_path, flood, limits):
    require_sandbox()
    cache = tmp_path / "cache" / "compile" / "abc"
    body = _compile_cache_body(flood + "\n    import time; time.sleep(2)")
    with pytest.raises(SubmissionError) as exc:
        run(make_sub(tmp_path / "one", body), compile_cache=cache, timeout=60, **limits)
    assert "scratch" in one_line(exc)
    assert sum(1 for _ in cache.parent.rglob("*")) <= 1  # nothing of it was kept


def test_sparse_file_is_hashed_once_and_staged_sparse(tmp_path, monkeypatch):
    """A 256 MiB sparse file: read once for every use of the submission's hash in one evaluate
    (the record, the replica key, the compile cache, the run), and its staged copy stays sparse."""
    require_sandbox()
    body = packing(f"""
    st = os.stat(os.path.join({HERE}, "weights.bin"))
    report = {{"size": st.st_size, "allocated": st.st_blocks * 512}}
    """)
    root = make_sub(tmp_path / "sub", body)
    with open(root / "weights.bin", "wb") as fh:
        fh.truncate(256 << 20)
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: (opened.append(str(path)), real_open(path, *a, **k))[1])
    sub = load_submission(root)
    digests = {sub.sha256() for _ in range(4)}
    report = decode_image(run_generator(root, n=1, size=SIZE, limits=Limits(timeout_s=30), submission=sub)["s0"])
    assert len(digests) == 1
    assert opened.count(str((root / "weights.bin").resolve())) == 1  # read once (its staged copy is written once)
    assert report["size"] == 256 << 20 and report["allocated"] < 1 << 20


def test_sandbox_names_no_host_folder(tmp_path):
    """mountinfo, PATH, sys.path, the package's own path and the request name no host folder of the
    submission, the cache, the scratch or the cxrbench package (the Python installation is bound
    where it is installed)."""
    require_sandbox()
    body = packing("""
    import cxrbench
    report = {"mountinfo": open("/proc/self/mountinfo").read(), "PATH": os.environ.get("PATH"),
              "sys.path": sys.path, "package": list(cxrbench.__path__), "cwd": os.getcwd(),
              "request": open("/sandbox/work/request.json").read(), "environ": dict(os.environ)}
    """)
    root = make_sub(tmp_path / "submission-folder", body)
    cache = tmp_path / "cache-root" / "compile" / "abc"
    got = run_generator(root, n=1, size=256, limits=Limits(timeout_s=30), compile_cache=cache)
    report = decode_image(got["s0"])
    text = json.dumps(report)
    package_roots = {str(Path(p).resolve()) for m in (cxrbench, cxrbench.baselines, cxrbench.leaderboard, cxrbench.tasks)
                     for p in m.__path__}
    for host in [str(root), str(tmp_path / "cache-root"), *package_roots]:
        assert host not in text, f"{host} is visible inside the sandbox"
    assert report["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert report["cwd"] == "/sandbox/work"
    mount_points = {line.split()[4] for line in report["mountinfo"].splitlines()}
    assert {"/sandbox/submission", "/sandbox/work", "/sandbox/compile-cache"} <= mount_points


def test_file_names_are_printed_escaped(tmp_path):
    """A name with a terminal escape (clear screen) and a bidi override, refused: the message shows them escaped."""
    root = make_sub(tmp_path / "sub", "pass")
    os.mkfifo(root / "evil\x1b[2J\u202e.fifo")
    with pytest.raises(SubmissionError) as exc:
        load_submission(root)
    message = one_line(exc)
    assert "\x1b" not in message and "\u202e" not in message
    assert "evil\\x1b[2J\\u202e.fifo" in message
