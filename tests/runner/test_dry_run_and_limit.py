"""`evaluate --dry-run` (checks and plan, nothing runs) and `--limit` (a smoke test, never publishable)."""

from __future__ import annotations

import time

import pytest
from test_evaluate import ORACLE, _sub
from typer.testing import CliRunner

from cxrbench.cli import app
from cxrbench.results import read_record


def _oracle(tmp_path):
    return _sub(tmp_path, "oracle", ORACLE)


def test_dry_run_plans_without_running_then_sees_the_cache(tiny_tasks, run_opts, tmp_path):
    """The dry run's jobs are the run's own (same keys): after a run, every one of them is cached."""
    from cxrbench.runner.dry_run import dry_run
    from cxrbench.runner.evaluate import evaluate

    sub = _oracle(tmp_path)
    before = dry_run(sub, ["tiny/supplement-100"], run_opts)
    stages = {s.stage: s for s in before.stages}
    assert (stages["generate"].jobs, stages["train"].jobs, stages["score"].jobs) == (1, 4, 1)  # 2 seeds x 2 arms
    assert all(s.cached == 0 for s in before.stages) and stages["train"].cpu_seconds > 0
    assert stages["generate"].unknown == 1 and "has not generated into this cache yet" in before.notes[0]
    assert not (run_opts.out_dir).exists() and not list((run_opts.cache_root / "images").rglob("*.u8"))
    assert evaluate(sub, ["tiny/supplement-100"], run_opts)[0].record.status == "complete"
    after = dry_run(sub, ["tiny/supplement-100"], run_opts)
    assert all(s.cached == s.jobs for s in after.stages if s.stage != "score")
    assert after.notes == [] or all("audit" in n for n in after.notes)


def test_dry_run_cli_is_quick_and_refuses_bad_input(tiny_tasks, tmp_path):
    sub = _oracle(tmp_path)
    runner = CliRunner()
    started, cpu = time.perf_counter(), time.process_time()
    out = runner.invoke(app, ["evaluate", str(sub), "-t", "tiny/supplement-100", "--dry-run", "--cache",
                              str(tmp_path / "cache"), "--out", str(tmp_path / "runs"), "--unsafe-no-sandbox"],
                        env={"COLUMNS": "160"})
    assert out.exit_code == 0, out.output
    assert "estimated CPU time" in out.output and "train" in out.output and not (tmp_path / "runs").exists()
    assert time.process_time() - cpu < 10, f"dry run used {time.process_time() - cpu:.1f} CPU s"
    print(f"dry run: {time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")
    bad = runner.invoke(app, ["evaluate", str(sub), "-t", "tiny/suplement-100", "--dry-run"])
    assert bad.exit_code != 0 and "did you mean tiny/supplement-100" in str(bad.exception)


def test_limit_is_a_smoke_test_never_published(tiny_tasks, run_opts, tmp_path):
    from cxrbench.leaderboard.publish import check_complete
    from cxrbench.runner.evaluate import evaluate

    run_opts.limit, run_opts.seeds = 12, [0]
    out = evaluate(_oracle(tmp_path), ["tiny/supplement-100"], run_opts)[0]
    record = out.record
    assert record.status == "complete" and record.smoke_limit == 12
    assert out.path.name == "oracle@1.smoke.json" and read_record(out.path).smoke_limit == 12
    assert all(es.n_images <= 12 for es in record.eval_sets)
    assert "is never published" in check_complete(record, out.path)[0]
    with pytest.raises(Exception, match="--limit 3: give at least 10 images per set"):
        from cxrbench.api import run_options

        run_options(limit=3, device="cpu")


def test_dry_run_starts_no_job_and_names_the_rates_it_estimates_from(tiny_tasks, tmp_path, monkeypatch):
    """Nothing is trained or generated; the training estimate is the recipe's rates (timed once per
    machine, then read from the cache) times the images the plan trains and scores, and the plan says so."""
    import cxrbench.runner.evaluate as evaluate_module
    import cxrbench.runner.planning as planning
    from cxrbench.runner import step_rates
    from cxrbench.runner.executors.local import LocalExecutor

    def refuse(*args, **kwargs):
        raise AssertionError("the dry run started a job")

    for owner, name in ((planning, "run_plan"), (evaluate_module, "run_plan"), (evaluate_module, "get_executor"),
                        (LocalExecutor, "submit")):
        monkeypatch.setattr(owner, name, refuse)
    timed = []

    def fake_timing(recipe, device, threads):
        timed.append((recipe.name, threads))
        return 100.0, 1000.0

    monkeypatch.setattr(step_rates, "time_recipe", fake_timing)
    sub, cache, out_dir = _oracle(tmp_path), tmp_path / "cache", tmp_path / "runs"
    argv = ["evaluate", str(sub), "-t", "tiny/supplement-100", "--dry-run", "--cache", str(cache),
            "--out", str(out_dir), "--unsafe-no-sandbox", "--device", "cpu"]
    first = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "estimated CPU time" in first.output and "100.0 images/s per training step" in first.output
    assert "timed now" in first.output and timed == [("quick", 1)]
    second = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert second.exit_code == 0 and timed == [("quick", 1)], second.output  # read from the cache
    assert "100.0 images/s per training step" in second.output and "kept in the cache" in second.output
    assert CliRunner().invoke(app, [*argv, "--threads", "2"]).exit_code == 0 and timed[-1] == ("quick", 2)
    assert CliRunner().invoke(app, [*argv, "--force"]).exit_code == 0 and len(timed) == 3
    assert not out_dir.exists() and not list(cache.rglob("*.u8")) and not (cache / "synthetic").exists()

    # the estimate is the measured rate's: half the rate, twice the training time
    from cxrbench.api import dry_run as api_dry_run

    def train_seconds(rates: tuple[float, float]) -> float:
        monkeypatch.setattr(step_rates, "time_recipe", lambda recipe, device, threads: rates)
        plan = api_dry_run(sub, ["tiny/supplement-100"], cache=cache, out=out_dir, device="cpu",
                           unsafe_no_sandbox=True, force=True)
        return next(s.cpu_seconds for s in plan.stages if s.stage == "train")

    slow, fast = train_seconds((50.0, 500.0)), train_seconds((100.0, 1000.0))
    assert fast > 0 and slow == pytest.approx(2 * fast)
