"""`evaluate` and untrusted code: no bubblewrap → refused; kind mismatches refused; failures kept
apart from good records; a hostile generator leaves the cache and results untouched."""

from __future__ import annotations

import hashlib
import os

import pytest
from typer.testing import CliRunner

from cxrbench.errors import ConfigError
from cxrbench.runner.evaluate import evaluate
from cxrbench.submissions import bwrap

ORACLE = "from cxrbench.data.phantom import render\nclass Gen:\n    def generate(self, c, s, size):\n        return render(c, s, size)\n"

#: what a test submission declares it learned from, by kind
TRAINED_ON = {"generator": "[{data: phantom/site-a/train, patients: 712, population: 1000}]",
              "classifier": "[phantom/site-a/train]"}


def _sub(tmp_path, name, body, kind="generator", entry="gen:Gen"):
    root = tmp_path / name
    root.mkdir()
    (root / "submission.yaml").write_text(f'name: {name}\nversion: "1"\nkind: {kind}\nentry_point: {entry}\n'
                                          f'training_data: {TRAINED_ON[kind]}\n')
    (root / f"{entry.split(':')[0]}.py").write_text(body)
    return root


def _tree_digest(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def test_no_bubblewrap_refuses_to_run_code(tiny_tasks, run_opts, tmp_path, monkeypatch):
    monkeypatch.setattr(bwrap, "unavailable_reason", lambda: "bubblewrap (`bwrap`) is not installed")
    sub = _sub(tmp_path, "oracle", ORACLE)
    with pytest.raises(ConfigError, match="--unsafe-no-sandbox"):
        evaluate(sub, ["tiny/supplement-100"], run_opts)
    assert not run_opts.out_dir.exists()


def test_unsafe_opt_out_is_recorded(tiny_tasks, run_opts, tmp_path, monkeypatch):
    monkeypatch.setattr(bwrap, "unavailable_reason", lambda: "bubblewrap (`bwrap`) is not installed")
    run_opts.unsafe_no_sandbox = True
    run_opts.seeds = [0]
    sub = _sub(tmp_path, "oracle", ORACLE)
    rec = evaluate(sub, ["tiny/supplement-100"], run_opts)[0].record
    assert rec.status == "complete", rec.errors
    assert rec.environment.isolation["mode"] == "none"
    assert "--unsafe-no-sandbox" in rec.environment.isolation["reason"]


@pytest.mark.parametrize("task, kind, entry", [("tiny/supplement-100", "classifier", "clf:C"),
                                               ("tiny/classify", "generator", "gen:Gen")])
def test_kind_that_does_not_fit_the_task_is_refused(tiny_tasks, run_opts, tmp_path, task, kind, entry):
    sub = _sub(tmp_path, "wrongkind", "class C:\n    pass\nclass Gen:\n    pass\n", kind=kind, entry=entry)
    with pytest.raises(ConfigError, match=f"is a {kind}"):
        evaluate(sub, [task], run_opts)


# CI sets CXRBENCH_REQUIRE_SANDBOX: there a missing bubblewrap fails this test instead of skipping it
@pytest.mark.skipif(bwrap.unavailable_reason() is not None and not os.environ.get("CXRBENCH_REQUIRE_SANDBOX"),
                    reason=f"bubblewrap cannot run: {bwrap.unavailable_reason()}")
def test_hostile_generator_fails_alone_and_touches_nothing(tiny_tasks, run_opts, tmp_path):
    """Task 1 completes (and fills the cache); the hostile generator on task 2 tries to rewrite every
    cached file and record it can name, then emits a malformed event: task 2 fails with one line, the
    cache and results are byte-identical, the complete record survives a failed rerun, exit code 3."""
    from cxrbench.cli import app

    run_opts.seeds = [0]
    good = _sub(tmp_path, "hostile", ORACLE)
    first = evaluate(good, ["tiny/supplement-100"], run_opts)[0]
    assert first.record.status == "complete", first.record.errors
    assert first.record.environment.isolation["mode"] == "bubblewrap"
    cache, results = run_opts.cache_root.resolve(), run_opts.out_dir.resolve()
    before_cache, before_results = _tree_digest(cache), _tree_digest(results)
    hostile = f"""
import os
class Gen:
    def generate(self, c, s, size):
        hits = 0
        for top in ({str(cache)!r}, {str(results)!r}):
            for dirpath, _, files in os.walk(top):
                for f in files:
                    try:
                        open(os.path.join(dirpath, f), "wb").write(b"0.5"); hits += 1
                    except OSError:
                        pass
        import __main__
        os.write(__main__._PROTOCOL.fileno(), b'["hits", %d]\\n' % hits)
        import time; time.sleep(30)
"""
    (good / "gen.py").write_text(hostile)  # same name@version, new content: the rerun must not replace the record
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", str(good), "-t", "tiny/supplement-100", "-t", "tiny/supplement-0",
                                 "--out", str(results), "--cache", str(cache), "--seeds", "1"])
    assert result.exit_code == 3, result.output
    failed = results / "phantom/quick/tiny__supplement-100@1" / "hostile@1.failed.json"
    assert failed.is_file()
    assert "malformed worker event" in failed.read_text() and "Traceback" not in failed.read_text()
    # the complete record of the first run is still the one under the final name
    assert _tree_digest(results)["phantom/quick/tiny__supplement-100@1/hostile@1.json"] == before_results["phantom/quick/tiny__supplement-100@1/hostile@1.json"]
    after_cache = _tree_digest(cache)
    assert {k: v for k, v in after_cache.items() if k in before_cache} == before_cache
    assert (results / "phantom/quick/tiny__supplement-0@1" / "hostile@1.json").is_file()  # the other task still ran
    # a flipped byte in a cached classifier run is reported with its path and rebuilt, not scored
    import io

    from rich.console import Console

    baseline = (results / "phantom/quick/tiny__supplement-0@1" / "hostile@1.json").read_text()
    parquets = [p for p in (cache / "classifier-run").rglob("*.parquet") if "/." not in str(p)]
    for parquet in parquets:
        data = bytearray(parquet.read_bytes())
        data[len(data) // 2] ^= 0xFF
        parquet.write_bytes(bytes(data))
    log = io.StringIO()
    again = evaluate(good, ["tiny/supplement-0"], run_opts, console=Console(file=log, width=300))[0].record
    assert "is corrupt" in log.getvalue() and any(p.parent.name in log.getvalue() for p in parquets)
    from cxrbench.results import ResultRecord

    assert again.eval_sets == ResultRecord.model_validate_json(baseline).eval_sets
