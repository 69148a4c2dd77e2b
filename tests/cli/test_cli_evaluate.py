"""`cxrbench evaluate`'s results table and help, as printed."""

import io
import re
from pathlib import Path

from leaderboard_fixtures import make_record
from rich.console import Console
from typer.testing import CliRunner

from cxrbench.cli import app
from cxrbench.cli.evaluate import failures, results_table
from cxrbench.results import ResultRecord


def render(table, width=120) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(table)
    return console.file.getvalue()


def failed_record(message: str) -> ResultRecord:
    good = make_record("phantom/supplement-100", "noise")
    return ResultRecord(status="failed", task=good.task, submission=good.submission, split_fingerprints={},
                        seeds=[0], environment=good.environment, errors=[message])


def test_failure_message_is_printed_whole_and_verbatim():
    message = ("SubmissionError: expected 1902 images of shape (32, 32), got (1902, 64, 64) from generator "
               "noise shard-00003 [uint8] — check `size` in generate()")
    records = [make_record("phantom/supplement-100", "reference-ddpm"), failed_record(message)]
    for width in (160, 120, 100):  # 160: what a pipe or CI log gets
        text = render(results_table(records), width)
        assert "failed" in text and "…" not in text
    assert failures(records) == [f"phantom/supplement-100 failed: {message}"]


def test_complete_row_shows_delta_ci_p_and_external_deltas():
    rec = make_record("phantom/supplement-100", "oracle")
    text = render(results_table([rec]), width=200)
    comp = next(c for c in rec.comparisons if c.eval_set == "internal_test")

    low, high = comp.ci_low, comp.ci_high
    assert f"{comp.delta:+.3f} [{low:+.3f}, {high:+.3f}]" in text
    assert re.search(r"b [+-]0\.\d{3}\**", text) and re.search(r"c [+-]0\.\d{3}\**", text)


def test_help_names_the_record_path_the_runner_writes(tmp_path):
    from cxrbench.runner.evaluate import record_path

    out = CliRunner().invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"})
    text = " ".join(out.output.split())
    template = re.search(r"OUT/(<.+?\.json)", text).group(1)
    assert template == "<profile>/<budget>/<task>@<task version>/<submission>@<version>.json"
    assert "<task> the task name without its profile" in text
    rec = make_record("phantom/supplement-100", "reference-ddpm", version="0.2")
    expected = (template.replace("<profile>", rec.task.profile).replace("<budget>", rec.task.budget)
                .replace("<task>", rec.task.name.removeprefix(rec.task.profile + "/"))
                .replace("<task version>", str(rec.task.version)).replace("<submission>", rec.submission.name)
                .replace("<version>", rec.submission.version))
    assert record_path(tmp_path, rec) == tmp_path / Path(expected)


def test_a_row_without_a_test_shows_the_reason_and_no_p_value():
    rec = make_record("phantom/supplement-100", "oracle")
    reason = "too few seeds (1); use ≥ 3, ≥ 5 for per-label tests"
    for c in rec.comparisons:
        c.p_value, c.ci_low, c.ci_high, c.mde, c.verdict, c.verdict_reason = None, None, None, None, "inconclusive", reason
        for lab in c.labels:
            lab.p_value, lab.p_holm, lab.significant = None, None, False
    text = " ".join(render(results_table([rec]), width=400).split())
    assert "inconclusive: too few seeds (1); use ≥ 3, ≥ 5 for per-label tests" in text
    assert "*" not in text.split("***")[-1]  # no star after the title's legend
