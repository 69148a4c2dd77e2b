"""Leases across hosts: two builders with the same host name in separate UTS and pid namespaces
(containers, or nodes named alike) do not take over each other's live lease; on a filesystem that
serves mtimes from an attribute cache (NFS) a live lease is not judged stale."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KEY = "cd" + "0" * 62

#: one builder: claim the entry; if it is ours, hold it `hold` seconds (heartbeats only) and build it
BUILDER = """
import json, os, socket, sys, time
from cxrbench.runner.cache import Cache
root, name, ttl, hold, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
said = []
cache = Cache(root, lease_ttl=ttl, report=said.append)
start = time.monotonic()
with cache.claim("stage", sys.argv[6]) as mine:
    if mine:
        open(out + ".holding", "w").close()
        time.sleep(hold)
        with cache.building("stage", sys.argv[6]) as tmp:
            (tmp / "value.txt").write_text("the entry")
        open(out + ".built", "w").close()
value = (cache.path("stage", sys.argv[6]) / "value.txt").read_text()
json.dump({"built": mine, "value": value, "said": said, "host": socket.gethostname(), "pid": os.getpid(),
           "seconds": time.monotonic() - start}, open(out, "w"))
"""


def _builder(root, name, ttl, hold, out, prefix=()):
    """One builder process (a second builder of the same entry writes the same content)."""
    return subprocess.Popen([*prefix, sys.executable, "-c", BUILDER, str(root), name, str(ttl), str(hold), str(out),
                             KEY], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def _wait_for(path: Path, timeout=60):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _race(roots: tuple[Path, Path], tmp_path: Path, ttl: float, hold: float, prefixes=((), ())):
    """The first builder takes the lease and holds it; the second starts while it is held (each
    sees the cache through its own root: one mount per node)."""
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    a = _builder(roots[0], "first", ttl, hold, first, prefixes[0])
    _wait_for(first.with_suffix(".json.holding"))
    b = _builder(roots[1], "second", ttl, hold, second, prefixes[1])
    assert a.wait(120) == 0 and b.wait(120) == 0
    return json.loads(first.read_text()), json.loads(second.read_text())


def _unshare_prefix(hostname: str, spent_pids: int):
    """Run a builder in new UTS and pid namespaces named `hostname`, as a child of sh after
    `spent_pids` short-lived processes (so its pid is spent_pids + 3 there)."""
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux unshare")
    probe = subprocess.run(["unshare", "--uts", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create UTS and pid namespaces here ({probe.stderr.decode().strip()})")
    return ("unshare", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c",
            f'hostname {hostname}{" && /bin/true" * spent_pids} && "$0" "$@"; exit $?')


def test_same_hostname_in_separate_namespaces_waits_for_the_live_lease(tmp_path):
    # the holder's pid names no process in the waiter's namespace: judged by host name and pid,
    # the live lease would be taken over at once
    prefixes = (_unshare_prefix("same-node", 3), _unshare_prefix("same-node", 1))
    first, second = _race((tmp_path / "cache",) * 2, tmp_path, ttl=1.0, hold=4.0, prefixes=prefixes)
    assert first["host"] == second["host"] == "same-node" and first["pid"] > second["pid"]
    assert first["built"] and not second["built"], second["said"]  # read the entry the holder published
    assert not any("took over" in s for s in second["said"]), second["said"]
    assert second["said"][0].startswith(f"waiting for same-node:{first['pid']}")


def _mount(source: Path, mount: Path) -> subprocess.Popen:
    mount.mkdir()
    fs = subprocess.Popen([sys.executable, str(REPO / "tests" / "runner" / "delayed_attributes_fs.py"), str(source), str(mount),
                           "--delay", "3"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not os.path.ismount(mount):
        if fs.poll() is not None or time.monotonic() > deadline:
            fs.kill()
            pytest.skip(f"cannot mount a FUSE filesystem here ({fs.stderr.read().decode().strip()[-300:]})")
        time.sleep(0.1)
    return fs


@pytest.fixture
def delayed_mtime_mounts(tmp_path):
    """One folder behind two delayed-attributes FUSE mounts (tests/runner/delayed_attributes_fs.py): two
    NFS clients, each seeing the other's changes in `stat` only after 3 s."""
    if shutil.which("fusermount3") is None or not os.path.exists("/dev/fuse"):
        pytest.skip("needs FUSE 3 (Debian: fuse3) and /dev/fuse")
    pytest.importorskip("mfusepy", reason="needs mfusepy (pip install mfusepy)")
    source = tmp_path / "source"
    source.mkdir()
    mounts, servers = (tmp_path / "node-a", tmp_path / "node-b"), []
    try:
        for mount in mounts:
            servers.append(_mount(source, mount))
        yield mounts
    finally:
        for mount, fs in zip(mounts, servers):
            subprocess.run(["fusermount3", "-u", str(mount)], check=False)
            fs.wait(10)


def test_the_mounts_really_serve_old_mtimes(delayed_mtime_mounts):
    a, b = (m / "probe" for m in delayed_mtime_mounts)
    a.write_text("x")
    before = b.stat().st_mtime
    time.sleep(1.1)
    os.utime(a)
    assert a.stat().st_mtime > before  # the writer's own mount sees it
    assert b.stat().st_mtime == before  # what an mtime heartbeat looks like from another NFS client
    time.sleep(3)
    assert b.stat().st_mtime > before


def test_a_live_lease_behind_delayed_mtimes_is_not_taken_over(delayed_mtime_mounts, tmp_path):
    # ttl 1 s < the 3 s attribute cache: judged by mtime, the lease would look stale every 3 s
    roots = tuple(m / "cache" for m in delayed_mtime_mounts)
    first, second = _race(roots, tmp_path, ttl=1.0, hold=5.0)
    assert first["built"] and not second["built"], second["said"]
    assert second["value"] == "the entry" and second["seconds"] > 3
    assert not any("took over" in s for s in second["said"]), second["said"]


def test_a_dead_remote_owner_is_taken_over_after_its_ttl_behind_delayed_mtimes(delayed_mtime_mounts, tmp_path):
    lease = delayed_mtime_mounts[0] / "cache" / "stage" / KEY[:2] / f".{KEY}.lease"
    lease.parent.mkdir(parents=True)
    lease.write_text(json.dumps({"host": "gone-node", "machine": "m", "boot": "b", "pidns": "p", "pid": 7}) + "\n0\n")
    out = tmp_path / "taker.json"
    assert _builder(delayed_mtime_mounts[1] / "cache", "taker", 1.0, 0.0, out).wait(60) == 0
    result = json.loads(out.read_text())
    assert result["built"] and "no heartbeat from gone-node:7" in result["said"][1]
