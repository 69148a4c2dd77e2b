"""Executors run a plan's jobs: `local` (this process, plus a process pool for `--jobs N`) and
`ray` (Ray Core tasks on one machine or a cluster). Both go through `run_plan`, so retries,
result checks and events are the same whatever runs the jobs."""

from __future__ import annotations

from cxrbench.errors import ConfigError
from cxrbench.runner.executors.base import Event, Executor, Outcome, run_plan

EXECUTORS = ("local", "ray")


def get_executor(name: str, *, workers: int = 1, threads: int = 1, device: str = "cpu",
                 address: str | None = None) -> Executor:
    """The executor called `name`; `workers`: jobs at once (local: training processes; ray: the
    local instance's CPUs when no `address` is given, 0 = all)."""
    if name == "local":
        from cxrbench.runner.executors.local import LocalExecutor

        return LocalExecutor(workers=workers, threads=threads)
    if name == "ray":
        from cxrbench.runner.executors.ray import RayExecutor

        return RayExecutor(address=address, workers=workers, device=device)
    raise ConfigError(f"--executor {name!r}: unknown executor (choose from {', '.join(EXECUTORS)})")


__all__ = ["EXECUTORS", "Event", "Executor", "Outcome", "get_executor", "run_plan"]
