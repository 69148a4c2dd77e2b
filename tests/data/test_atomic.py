import pytest

from cxrbench.data.atomic import atomic_write, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_a_failing_writer_leaves_the_old_file_and_nothing_else(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def explode(fh):
        fh.write(b"half of the new conte")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, explode)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_writer_killed_mid_write_leaves_nothing_after_the_next_successful_write(tmp_path):
    """A real kill -9 during the write: its temporary file stays, then the rerun's write removes it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "r.json"
    started = tmp_path / "started"
    code = ("import sys, time, pathlib\nfrom cxrbench.data.atomic import atomic_write\n"
            "def slow(fh):\n    fh.write(b'{\"half\": ')\n    fh.flush()\n"
            f"    pathlib.Path({str(started)!r}).touch()\n    time.sleep(60)\n"
            f"atomic_write({str(target)!r}, slow)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while not started.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].startswith(f".r.json.{proc.pid}.")  # what a kill leaves
    legacy = tmp_path / ".r.json.k3j_9x2a.tmp"  # a leftover from before temp names carried the pid
    legacy.write_bytes(b"{")
    other = tmp_path / ".r.json.bak.123.abcdefgh.tmp"  # another file's temporary: not ours to delete
    other.write_bytes(b"{")
    live = tmp_path / f".r.json.{os.getppid()}.abcdefgh.tmp"  # a running writer's (the parent process stands in)
    live.write_bytes(b"{")
    atomic_write_text(target, '{"whole": 1}')
    assert target.read_text() == '{"whole": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r.json", "started", other.name, live.name])
