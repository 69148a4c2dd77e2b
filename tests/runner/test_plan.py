"""The driver loop (`run_plan`): dependencies first, cached jobs skipped, a result whose hash does
not match its job key is retried once and then fails with that reason, failures stop dependents."""

import io
import time
from pathlib import Path

import pytest
from faults import FAULTS_ENV, WrongHashExecutor, kill_if_armed
from rich.console import Console

from cxrbench.errors import SubmissionError
from cxrbench.runner.cache import Cache
from cxrbench.runner.executors import run_plan
from cxrbench.runner.executors.local import LocalExecutor
from cxrbench.runner.plan import Job, Plan
from cxrbench.runner.progress import PlanProgress


def _write(*, cache, key, text, calls):
    calls.append(key)
    with cache.building("thing", key) as tmp:
        (tmp / "value.txt").write_text(text)


def _write_train(**kwargs):
    """`_write` behind a `kill` fault of stage `train` (faults.py)."""
    kill_if_armed("train")
    _write(**kwargs)


def _crash(*, cache, key, calls, **_):
    calls.append(key)
    raise SubmissionError("generator exited with signal 9")


def _sum(*, cache, keys):
    return sum(int((cache.path("thing", k) / "value.txt").read_text()) for k in keys)


def _plan(calls, first=_write):
    plan = Plan()
    a, b = "aa" + "0" * 62, "bb" + "0" * 62
    plan.add(Job(a, "generate", "thing", "job a", first, dict(key=a, text="2", calls=calls)))
    plan.add(Job(b, "train", "thing", "job b", _write_train, dict(key=b, text="3", calls=calls), deps=(a,)))
    plan.add(Job("score-key", "score", None, "job score", _sum, dict(keys=[a, b]), deps=(a, b)))
    return plan, a, b


def _run(plan, cache, terminal=False, executor=LocalExecutor):
    log = io.StringIO()
    with executor() as ex, PlanProgress(plan, Console(file=log, width=200, force_terminal=terminal)) as view:
        outcomes = run_plan(plan, ex, cache, on_event=view)
    return outcomes, log.getvalue()


def test_jobs_run_after_their_dependencies_and_cached_ones_are_skipped(tmp_path):
    calls = []
    plan, a, b = _plan(calls)
    outcomes, log = _run(plan, Cache(tmp_path))
    assert calls == [a, b] and outcomes["score-key"].value == 5
    # one line per finished job where stderr is not a terminal, with the plan's count
    lines = log.strip().splitlines()
    assert [line.split(" done in ")[0] for line in lines] == ["[1/3] job a", "[2/3] job b", "[3/3] job score"]
    calls.clear()
    outcomes, log = _run(plan, Cache(tmp_path))
    assert calls == [] and outcomes[a].cached and outcomes["score-key"].value == 5
    assert log.splitlines()[0].startswith("[1/3] job a done in 0.0 s (cached)")


def test_a_terminal_gets_the_progress_view_instead_of_lines(tmp_path):
    _, log = _run(_plan([])[0], Cache(tmp_path), terminal=True)
    assert "[1/3]" not in log and "jobs/min" in log and "generate" in log


def _run_with_fault(tmp_path, monkeypatch, fault: str):
    """Run the small plan with one injected worker fault (a marker file under FAULTS_ENV)."""
    monkeypatch.setenv(FAULTS_ENV, str(tmp_path))
    (tmp_path / fault).touch()
    calls = []
    plan, a, b = _plan(calls)
    outcomes, log = _run(plan, Cache(tmp_path / "cache"), executor=WrongHashExecutor)
    return calls, a, b, outcomes, log


def test_a_wrong_result_hash_is_retried_once(tmp_path, monkeypatch):
    calls, a, b, outcomes, log = _run_with_fault(tmp_path, monkeypatch, "wrong-hash-train")
    assert outcomes[b].error is None and outcomes[b].attempts == 2 and outcomes["score-key"].value == 5
    assert "[1/3] job b retried: result hash 000000000000… from worker" in log
    assert "does not match the entry of job key bb0000000000…" in log


def test_a_result_hash_that_never_matches_fails_the_job_and_its_dependents(tmp_path, monkeypatch):
    calls, a, b, outcomes, log = _run_with_fault(tmp_path, monkeypatch, "wrong-hash-generate.always")
    assert calls == [a, a]  # retried once, then given up
    assert "does not match the entry of job key aa0000000000" in outcomes[a].error
    assert outcomes[b].error.startswith("not run: job a failed (result hash")
    assert outcomes["score-key"].error.startswith("not run: job a failed")
    assert "[1/3] job a failed: result hash" in log


def test_a_job_error_is_its_outcome_not_a_crash(tmp_path):
    calls = []
    plan, a, b = _plan(calls, first=_crash)
    outcomes, _ = _run(plan, Cache(tmp_path))
    assert outcomes[a].error == "generator exited with signal 9" and outcomes[a].attempts == 1
    assert calls == [a]


def test_a_dependency_outside_the_plan_is_refused():
    with pytest.raises(ValueError, match="not in the plan"):
        Plan().add(Job("k", "train", "thing", "orphan", _write, {}, deps=("missing",)))


def _mark(*, cache, key, folder):
    with cache.building("thing", key) as tmp:
        (tmp / "value.txt").write_text("1")
    (Path(folder) / key[:2]).touch()


def _wait_for_marks(*, cache, key, folder, marks, timeout_s=60.0):
    """An inline job that finishes only once the pool has run `marks` jobs besides it."""
    deadline = time.monotonic() + timeout_s
    while not all((Path(folder) / m).exists() for m in marks):
        if time.monotonic() > deadline:
            raise SubmissionError("the pool ran nothing while this inline job ran")
        time.sleep(0.05)
    with cache.building("thing", key) as tmp:
        (tmp / "value.txt").write_text("1")


def _pool_plan(folder: Path, gens: list[str], trains: list[str]) -> Plan:
    """A first generation that finishes only once every training job ran, the other generations, then
    the training jobs (the order a plan with a generation per seed has)."""
    plan = Plan()
    plan.add(Job(gens[0], "generate", "thing", "generation 0", _wait_for_marks,
                 dict(key=gens[0], folder=str(folder), marks=[k[:2] for k in trains])))
    for k in gens[1:]:
        plan.add(Job(k, "generate", "thing", f"generation {k[:2]}", _mark, dict(key=k, folder=str(folder))))
    for k in trains:
        plan.add(Job(k, "train", "thing", f"train {k[:2]}", _mark, dict(key=k, folder=str(folder))))
    return plan


TRAINS = [f"{c}{c}" + "0" * 62 for c in "tuv"]


def test_queued_inline_jobs_do_not_hold_the_pool(tmp_path):
    """`--jobs 2` with a generation per seed: five generation jobs come first in the plan, but only
    one is handed to the inline thread at a time, so the other slot keeps training (before the fix
    a second, merely queued generation held it and every training run waited for all five)."""
    gens = [f"g{i}" + "0" * 62 for i in range(3)]
    plan = _pool_plan(tmp_path, gens, TRAINS)
    with LocalExecutor(workers=2) as ex:
        gen0, gen1, train0 = plan.jobs[gens[0]], plan.jobs[gens[1]], plan.jobs[TRAINS[0]]
        assert ex.accepts(gen1, []) and not ex.accepts(gen1, [gen0]) and ex.accepts(train0, [gen0])
        outcomes = run_plan(plan, ex, Cache(tmp_path / "cache"))
    assert all(o.error is None for o in outcomes.values()), [o.error for o in outcomes.values()]


def test_the_pool_keeps_training_while_an_inline_job_runs(tmp_path):
    """`--jobs 2`: while a generation job runs in this process, finished training jobs are
    replaced at once (the generation does not hold the driver loop)."""
    plan = _pool_plan(tmp_path, ["gg" + "0" * 62], TRAINS)
    with LocalExecutor(workers=2) as ex:
        outcomes = run_plan(plan, ex, Cache(tmp_path / "cache"))
    assert all(o.error is None for o in outcomes.values()), [o.error for o in outcomes.values()]
