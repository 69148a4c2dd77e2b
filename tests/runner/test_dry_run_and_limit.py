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
