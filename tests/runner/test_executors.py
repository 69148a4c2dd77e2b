"""`--executor ray` gives `--executor local`'s answers: byte-identical predictions, the same record
apart from run-dependent fields, also when a Ray worker is killed in the middle of a job.

One local Ray instance (2 CPUs) serves the module; the local reference run is computed once.
"""

import io
import os

import pytest
from rich.console import Console

from cxrbench.runner.plan import FAULTS_ENV

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'cxrbench[ray]')")

#: fields of a record that differ between runs of the same inputs
RUN_DEPENDENT = {"created_at", "timings", "content_sha256"}
ORACLE = "from cxrbench.data.phantom import render\nclass Gen:\n    def generate(self, c, s, size):\n        return render(c, s, size)\n"


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """A folder of armed faults, visible to every Ray worker (set before Ray starts them)."""
    folder = tmp_path_factory.mktemp("faults")
    os.environ[FAULTS_ENV] = str(folder)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield folder
    ray.shutdown()
    del os.environ[FAULTS_ENV]


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
                                             'training_data: [phantom/site-a/train]\n')
        (sub / "gen.py").write_text(ORACLE)
    run_opts = RunOptions(budget="quick", seeds=[0, 1], out_dir=tiny / name / "runs", cache_root=tiny / name / "cache",
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
    return record.model_dump(mode="json", exclude=RUN_DEPENDENT)


def test_ray_with_two_workers_gives_the_local_answers(tiny, faults, local):
    record, predictions, log = _run(tiny, "ray", "ray", ray_workers=2)
    assert predictions == local[1]
    assert record.predictions_sha256 == local[0].predictions_sha256
    assert _comparable(record) == _comparable(local[0])
    assert "· ray" in log or "[1/" in log  # the plan view named the executor / logged jobs


def test_a_killed_worker_is_retried_and_the_answer_is_unchanged(tiny, faults, local):
    (faults / "kill-train").touch()  # the first training job's worker SIGKILLs itself
    record, predictions, _ = _run(tiny, "killed", "ray", ray_workers=2)
    assert (faults / "kill-train.fired").is_file() and not (faults / "kill-train").exists()
    assert predictions == local[1]
    assert _comparable(record) == _comparable(local[0])
