"""Test-side fault injection for the plan driver and the executors (the product has no fault hook).

A fault is a marker file in the folder named by `CXRBENCH_TEST_FAULTS` (set before Ray starts its
workers, so they see it too): `<kind>-<stage>` arms one fault for the next job of that stage (the
file is renamed `.fired`, atomically, so one attempt of one worker fires it) and
`<kind>-<stage>.always` arms it for every one. Kinds:
- `kill`: the process running the job SIGKILLs itself (`killing`, a job-function wrapper; never in
  the driver, whose pid is `CXRBENCH_TEST_DRIVER_PID`);
- `wrong-hash`: the worker's report carries a bad entry digest (`WrongHashExecutor`).
"""

from __future__ import annotations

import os
import signal
from dataclasses import replace

from cxrbench.runner.executors.local import LocalExecutor
from cxrbench.runner.jobs import train as _product_train  # bound at import, before any test swaps jobs.train

FAULTS_ENV = "CXRBENCH_TEST_FAULTS"
DRIVER_PID_ENV = "CXRBENCH_TEST_DRIVER_PID"


def fires(kind: str, stage: str) -> bool:
    folder = os.environ.get(FAULTS_ENV)
    if not folder:
        return False
    armed = os.path.join(folder, f"{kind}-{stage}")
    if os.path.exists(f"{armed}.always"):
        return True
    try:
        os.rename(armed, f"{armed}.fired")
    except OSError:
        return False
    return True


def kill_if_armed(stage: str) -> None:
    """SIGKILL this process when a `kill` fault of `stage` is armed and this is not the driver."""
    if str(os.getpid()) != os.environ.get(DRIVER_PID_ENV) and fires("kill", stage):
        os.kill(os.getpid(), signal.SIGKILL)


def train(**kwargs):
    """`cxrbench.runner.jobs.train` behind a `kill` fault of stage `train` (module-level: Ray pickles it by name)."""
    kill_if_armed("train")
    return _product_train(**kwargs)


class WrongHashExecutor(LocalExecutor):
    """The local executor whose workers report a wrong entry digest where a `wrong-hash` fault is armed."""

    def wait(self, handles: list) -> list:
        return [(handle, replace(result, digest="0" * 64) if result.digest and fires("wrong-hash", handle.job.stage)
                 else result) for handle, result in super().wait(handles)]
