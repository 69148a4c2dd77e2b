"""`--executor ray` gives `--executor local`'s answers: byte-identical predictions, the same record
apart from run-dependent fields, also when a Ray worker is killed in the middle of a job.

One local Ray instance (2 CPUs) serves the module. The plan-level tests (trivial jobs) run by
default; the `evaluate` ones train real classifiers (a local reference run, computed once, and a
Ray run each) and take minutes on a busy 2-core machine, so they are `slow`.
"""

import io
import os
from pathlib import Path

import pytest
from faults import DRIVER_PID_ENV, FAULTS_ENV
from rich.console import Console

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'cxrbench[ray]')")

#: fields of a record that differ between runs of the same inputs (`generation`: the measured time of
#: making the synthetic set, and whether this run made it or found it in the cache)
RUN_DEPENDENT = {"created_at", "timings", "content_sha256", "generation"}
SEEDS = [0, 1]
ORACLE = "from cxrbench.data.phantom import render\nclass Gen:\n    def generate(self, c, s, size):\n        return render(c, s, size)\n"


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """A folder of armed faults, visible to every Ray worker (set before Ray starts them); the
    workers can import this folder's modules (the job functions behind the faults, faults.py);
    training jobs run behind a `kill` fault of their stage."""
    import faults as fault_jobs

    from cxrbench.runner import jobs

    folder = tmp_path_factory.mktemp("faults")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(FAULTS_ENV, str(folder))
        mp.setenv(DRIVER_PID_ENV, str(os.getpid()))
        mp.setattr(jobs, "train", fault_jobs.train)
        mp.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        yield folder
        ray.shutdown()


def _plan_on(executor, cache):
    from test_plan import _plan

    from cxrbench.runner.executors import run_plan

    calls = []
    plan, a, b = _plan(calls)
    with executor:
        outcomes = run_plan(plan, executor, cache)
    return outcomes, [cache.digest("thing", k) for k in (a, b)]


def test_ray_runs_a_plan_to_the_same_entries_as_local(faults, tmp_path):
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.executors.local import LocalExecutor
    from cxrbench.runner.executors.ray import RayExecutor

    local_outcomes, local_digests = _plan_on(LocalExecutor(), Cache(tmp_path / "local"))
    ray_outcomes, ray_digests = _plan_on(RayExecutor(workers=2), Cache(tmp_path / "ray"))
    assert ray_digests == local_digests and None not in ray_digests
    assert ray_outcomes["score-key"].value == local_outcomes["score-key"].value == 5
    assert all(o.error is None for o in ray_outcomes.values())


def test_a_killed_ray_worker_is_retried_with_the_same_result(faults, tmp_path):
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.executors.local import LocalExecutor
    from cxrbench.runner.executors.ray import RayExecutor

    _, clean = _plan_on(LocalExecutor(), Cache(tmp_path / "clean"))
    (faults / "kill-train").touch()
    outcomes, digests = _plan_on(RayExecutor(workers=2), Cache(tmp_path / "killed"))
    assert (faults / "kill-train.fired").is_file()  # the worker of the training job SIGKILLed itself
    assert all(o.error is None for o in outcomes.values()) and outcomes["score-key"].value == 5
    assert digests == clean


@pytest.fixture(scope="module")
def tiny(tiny_tasks_module):
    return tiny_tasks_module.parent


def _run(tiny, name: str, executor: str, **opts):
    from cxrbench.runner.evaluate import RunOptions, evaluate
    from cxrbench.submissions.bwrap import unavailable_reason

    sub = tiny / "oracle"
    if not sub.exists():
        sub.mkdir()
        (sub / "submission.yaml").write_text('name: oracle\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n'
                                             'training_data: [{data: phantom/site-a/train, patients: 712, population: 1000}]\n')
        (sub / "gen.py").write_text(ORACLE)
    run_opts = RunOptions(budget="quick", seeds=SEEDS, out_dir=tiny / name / "runs", cache_root=tiny / name / "cache",
                          unsafe_no_sandbox=unavailable_reason() is not None, executor=executor, **opts)
    log = io.StringIO()
    outcome = evaluate(sub, ["tiny/supplement-100"], run_opts, console=Console(file=log, width=300))[0]
    assert outcome.record.status == "complete", outcome.record.errors
    predictions = outcome.path.with_suffix(".predictions.parquet").read_bytes()
    return outcome.record, predictions, log.getvalue()


@pytest.fixture(scope="module")
def local(tiny):
    return _run(tiny, "local", "local")


def _comparable(record) -> dict:
    out = record.model_dump(mode="json", exclude=RUN_DEPENDENT)
    out["audit"].pop("seconds")  # the audit's own stage timings
    return out


@pytest.mark.slow
def test_ray_with_two_workers_gives_the_local_answers(tiny, faults, local):
    record, predictions, log = _run(tiny, "ray", "ray", ray_workers=2)
    assert predictions == local[1]
    assert record.predictions_sha256 == local[0].predictions_sha256
    assert _comparable(record) == _comparable(local[0])
    assert "tiny/supplement-100 · train seed 1 done in" in log  # one line per finished job


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_the_answer_is_unchanged(tiny, faults, local):
    (faults / "kill-train").unlink(missing_ok=True)
    (faults / "kill-train.fired").unlink(missing_ok=True)
    (faults / "kill-train").touch()  # the first training job's worker SIGKILLs itself
    record, predictions, _ = _run(tiny, "killed", "ray", ray_workers=2)
    assert (faults / "kill-train.fired").is_file() and not (faults / "kill-train").exists()
    assert predictions == local[1]
    assert _comparable(record) == _comparable(local[0])


@pytest.mark.slow
def test_a_run_killed_midway_resumes_from_the_cache_under_ray(tiny, faults, local, tmp_path):
    """kill -9 of a whole `--executor local` run after its first training job: a rerun with
    `--executor ray` takes every finished entry from the cache and gives the same answers."""
    import signal
    import subprocess
    import sys
    import time

    tasks_dir = tiny / "tasks"
    code = (f"import cxrbench.tasking as t; real = t.load_tasks; t.load_tasks = lambda f=None: real({str(tasks_dir)!r}); "
            f"from test_executors import _run; from pathlib import Path; _run(Path({str(tiny)!r}), 'resumed', 'local')")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parent, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = tiny / "resumed" / "cache" / "classifier-run"
    deadline = time.time() + 600
    while not list(runs.glob("*/*/COMPLETE")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(runs.glob("*/*/COMPLETE")))
    assert 1 <= finished < 2 * len(SEEDS), finished
    assert not (tiny / "resumed" / "runs").exists()  # killed before any record was written
    record, predictions, log = _run(tiny, "resumed", "ray", ray_workers=2)
    assert log.count("(cached)") >= finished + 1  # the replica and every finished training run
    assert predictions == local[1] and _comparable(record) == _comparable(local[0])
