"""Workers sharing a cache build an entry once: a live lease makes the others wait and read the
finished entry; a dead or silent owner's lease is taken over."""

import json
import multiprocessing
import os
import time

from cxrbench.runner.cache import Cache
from cxrbench.runner.lease import lease, owner_identity, read_lease

KEY = "ab" + "0" * 62


def _build(root: str, log: str, go, ttl: float, out: str) -> None:
    cache = Cache(root, lease_ttl=ttl)
    go.wait()
    with cache.claim("stage", KEY) as mine:
        if mine:
            with open(log, "a") as fh:
                fh.write(f"{os.getpid()}\n")
            time.sleep(1.5)  # several ttl: only the heartbeat keeps the other worker waiting
            with cache.building("stage", KEY) as tmp:
                (tmp / "value.txt").write_text(str(os.getpid()))
    with open(out, "w") as fh:
        fh.write((cache.path("stage", KEY) / "value.txt").read_text())


def test_two_processes_racing_for_one_key_compute_it_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    go, log = ctx.Event(), tmp_path / "computed.log"
    outs = [tmp_path / f"read-{i}.txt" for i in range(2)]
    procs = [ctx.Process(target=_build, args=(str(tmp_path / "cache"), str(log), go, 0.4, str(out))) for out in outs]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    builders = log.read_text().split()
    assert len(builders) == 1, builders
    assert [o.read_text() for o in outs] == [builders[0], builders[0]]  # the waiter read the published entry
    assert not list((tmp_path / "cache").rglob("*.lease"))


def _dead_pid() -> int:
    proc = multiprocessing.get_context("fork").Process(target=lambda: None)
    proc.start()
    proc.join()
    return proc.pid


def test_a_dead_owners_lease_is_taken_over_at_once(tmp_path):
    path = tmp_path / ".k.lease"
    path.write_text(json.dumps({**owner_identity(), "pid": _dead_pid(), "start": ""}) + "\n0\n")
    said = []
    start = time.perf_counter()
    with lease(path, done=lambda: False, ttl=60, on_wait=said.append) as mine:
        assert mine and read_lease(path)[0]["pid"] == os.getpid()
    assert time.perf_counter() - start < 5
    assert "is dead" in said[0] and not path.exists()


def test_a_silent_lease_from_another_host_is_taken_over_after_its_ttl(tmp_path):
    path = tmp_path / ".k.lease"
    path.write_text(json.dumps({"host": "other-node", "pid": 1, "token": "x"}))
    said = []
    start = time.perf_counter()
    with lease(path, done=lambda: False, ttl=0.6, poll_s=0.05, on_wait=said.append) as mine:
        waited = time.perf_counter() - start
        assert mine
    assert 0.5 < waited < 10, waited
    assert said[0].startswith("waiting for other-node:1") and "no heartbeat from other-node:1" in said[1]


def test_a_waiter_reads_the_entry_when_the_owner_finishes(tmp_path):
    path = tmp_path / ".k.lease"
    path.write_text(json.dumps({"host": "other-node", "pid": 1, "token": "x"}))
    calls = []

    def done() -> bool:  # the other worker publishes the entry on the 3rd look
        calls.append(1)
        return len(calls) >= 3

    with lease(path, done=done, ttl=60, poll_s=0.01) as mine:
        assert mine is False
    assert path.exists()  # someone else's lease is never removed
