"""A worker checks its node before it takes a job: the driver's cache mounted there, bubblewrap
where the job runs submission code. A node that fails is reported as a node problem, and the job
is run again (visibly) instead of failing as the submission's fault."""

import io

import pytest
from rich.console import Console

from cxrbench.runner import node_check
from cxrbench.runner.cache import Cache
from cxrbench.runner.executors import run_plan
from cxrbench.runner.executors.base import Executor
from cxrbench.runner.node_check import cache_identity, node_problem
from cxrbench.runner.plan import Job, Plan, run_job
from cxrbench.runner.progress import PlanProgress


@pytest.fixture(autouse=True)
def fresh_checks(monkeypatch):
    monkeypatch.setattr(node_check, "_checked", {})


def test_a_node_that_sees_the_drivers_cache_and_runs_bwrap_takes_the_job(tmp_path, monkeypatch):
    monkeypatch.setattr(node_check, "_sandbox_problem", lambda: None)
    assert node_problem(tmp_path, cache_identity(tmp_path), sandboxed=True) is None


def test_a_missing_or_different_cache_is_a_node_problem(tmp_path):
    identity = cache_identity(tmp_path / "shared")
    assert "the cache" in node_problem(tmp_path / "absent", identity, False) and "is not mounted here" in \
        node_problem(tmp_path / "absent", identity, False)
    (tmp_path / "local").mkdir()  # a node-local folder at the cache's path
    problem = node_problem(tmp_path / "local", identity, False)
    assert problem.startswith("node ") and "is not the driver's cache (its id is missing" in problem


def test_a_node_without_bubblewrap_is_a_node_problem_for_sandboxed_jobs_only(tmp_path, monkeypatch):
    monkeypatch.setattr(node_check, "_sandbox_problem", lambda: "bwrap is not installed")
    identity = cache_identity(tmp_path)
    assert node_problem(tmp_path, identity, sandboxed=False) is None
    assert "bubblewrap cannot run here (bwrap is not installed); install it on every node" in \
        node_problem(tmp_path, identity, sandboxed=True)


def _write(*, cache, key):
    with cache.building("thing", key) as tmp:
        (tmp / "v").write_text("1")


class _RemoteExecutor(Executor):
    """Runs jobs here as a Ray worker would (remote=True), one at a time."""

    name = "fake-remote"

    def submit(self, job, cache):
        handle = object()
        self.__dict__.setdefault("jobs", {})[handle] = (job, cache)
        return handle

    def wait(self, handles):
        job, cache = self.jobs.pop(handles[0])
        return [(handles[0], run_job(job, cache, remote=True))]


def test_a_job_on_a_bad_node_is_retried_visibly_then_fails_with_the_node_problem(tmp_path, monkeypatch):
    monkeypatch.setattr(node_check, "_sandbox_problem", lambda: "bwrap is not installed")
    cache = Cache(tmp_path)
    cache.identity = cache_identity(tmp_path)
    plan = Plan()
    plan.add(Job("aa" * 32, "generate", "thing", "gen", _write, dict(key="aa" * 32), sandboxed=True))
    plan.add(Job("bb" * 32, "train", "thing", "train", _write, dict(key="bb" * 32)))
    log = io.StringIO()
    with PlanProgress(plan, Console(file=log, width=300)) as view:
        outcomes = run_plan(plan, _RemoteExecutor(), cache, on_event=view)
    gen = outcomes["aa" * 32]
    assert gen.error.startswith("node ") and "bubblewrap cannot run here" in gen.error and gen.attempts == 3
    assert sum("retried: node" in e for e in gen.events) == 2
    assert log.getvalue().count("gen retried: node") == 2
    assert outcomes["bb" * 32].error is None  # the node can take jobs without submission code
