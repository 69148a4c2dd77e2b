"""A driver killed outright (SIGKILL) leaves no Ray process behind: the reaper it started ends the
processes of the Ray instance it had started, and their descendants, within seconds."""

import os
import signal
import subprocess
import sys
import time

import pytest

from cxrbench.runner.executors.ray_reaper import descendants

#: a stand-in driver: starts two process trees (as ray.init starts gcs_server and raylet, whose
#: children are the agents and workers), then a reaper for them, then waits to be killed
FAKE_DRIVER = """
import subprocess, sys, time
from cxrbench.runner.executors import ray_reaper
trees = [subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"]) for _ in range(2)]
time.sleep(0.5)
ray_reaper.start([p.pid for p in trees])
print(" ".join(str(p) for p in ray_reaper.descendants([p.pid for p in trees])), flush=True)
time.sleep(300)
"""

RAY_DRIVER = """
import os, time
from cxrbench.runner.executors.ray import RayExecutor
with RayExecutor(workers=1):
    print(os.getpid(), flush=True)
    time.sleep(300)
"""


def _gone_within(pids, seconds) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and _not_zombie(p)]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_the_reaper_ends_the_process_trees_of_a_killed_driver():
    driver = subprocess.Popen([sys.executable, "-c", FAKE_DRIVER], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in driver.stdout.readline().split()]
    assert len(pids) == 6  # two shells, four sleeps
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert _gone_within(pids, 10) == []


@pytest.mark.slow
def test_killing_a_ray_driver_leaves_no_ray_process_after_10_s():
    pytest.importorskip("ray", reason="ray is not installed (pip install 'cxrbench[ray]')")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        driver = subprocess.Popen([sys.executable, "-c", RAY_DRIVER], stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "RAY_AUTH_MODE": "disabled"})
        pid = int(driver.stdout.readline())
        time.sleep(2)
        ray_processes = [p for p in descendants([pid]) if p != pid]
        assert len(ray_processes) >= 3, ray_processes  # gcs_server, raylet, agents, workers
        driver.send_signal(sig)
        driver.wait(60)
        assert _gone_within(ray_processes, 10) == [], sig


def test_only_the_drivers_ray_processes_are_reaped():
    from cxrbench.runner.executors.ray_reaper import ray_children

    other = subprocess.Popen(["sleep", "60"])
    ray_like = subprocess.Popen(["bash", "-c", "exec -a ray::IDLE sleep 60"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and ray_like.pid not in ray_children(os.getpid()):
            time.sleep(0.1)
        found = ray_children(os.getpid())
        assert ray_like.pid in found and other.pid not in found
    finally:
        for proc in (other, ray_like):
            proc.kill()
            proc.wait()
