"""The docs' commands are the CLI's: every `cxrbench ...` line in the README and submissions/README.md
parses (run with `--help`: an unknown option or command fails), task-version paths name the current
versions, and the timeouts the docs state are the task files' own."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "submissions/README.md")


def shell_lines(text: str) -> list[str]:
    """The lines of the fenced shell blocks (```bash, ```sh, ```shell, ```console), continuations joined."""
    lines, block, language = [], None, None
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\w*)", line)
        if fence and block is None:
            block, language = [], fence.group(1)
        elif fence:
            if language in ("bash", "sh", "shell", "console"):
                joined = re.sub(r"\\\n\s*", " ", "\n".join(block))
                lines += [cmd.strip().removeprefix("$ ") for cmd in joined.splitlines()]
            block = None
        elif block is not None:
            block.append(line)
    return lines


def cxrbench_commands(path: Path) -> list[list[str]]:
    """Each `cxrbench ...` command of a file's shell blocks, as argv (comments dropped)."""
    out = []
    for line in shell_lines(path.read_text()):
        if not line.startswith("cxrbench "):
            continue
        out.append(shlex.split(line, comments=True))
    return out


def all_commands() -> list[tuple[str, list[str]]]:
    return [(doc, argv) for doc in DOCS for argv in cxrbench_commands(REPO / doc)]


def test_the_docs_have_commands():
    found = {doc for doc, _ in all_commands()}
    assert found == set(DOCS)
    assert any(argv[1] == "evaluate" for _, argv in all_commands())


@pytest.mark.parametrize("doc, argv", all_commands(), ids=lambda v: v if isinstance(v, str) else " ".join(v[:4]))
def test_every_documented_command_parses(doc, argv):
    """`--help` after the documented arguments: click parses every option first, so an unknown option
    (or command) fails here, while a placeholder path or a missing dataset does not matter."""
    from cxrbench.cli import app

    result = CliRunner().invoke(app, argv[1:] + ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, f"{doc}: `{' '.join(argv)}`:\n{result.output[-800:]}"


#: the docs' placeholder submissions, and the shipped one of the same kind that stands in for each
STAND_INS = {"submissions/my-generator": "submissions/noise"}


def test_documented_evaluate_commands_on_shipped_submissions_dry_run():
    """The README's evaluate commands on shipped submissions (phantom, CPU; a placeholder by its
    stand-in) pass `--dry-run`: the submission, tasks and budget they name are valid."""
    from cxrbench.cli import app

    seen = set()
    for doc, argv in all_commands():
        argv = [STAND_INS.get(a, a) for a in argv]
        if argv[1] != "evaluate" or not (REPO / argv[2]).is_dir() or "--executor" in argv or "--data" in argv:
            continue
        key = tuple(argv)
        if key in seen:
            continue
        seen.add(key)
        result = CliRunner().invoke(app, argv[1:] + ["--dry-run", "--device", "cpu", "--unsafe-no-sandbox"],
                                    env={"COLUMNS": "200"})
        assert result.exit_code == 0, f"{doc}: `{' '.join(argv)} --dry-run`: {result.exception or result.output[-800:]}"
    assert seen


def test_task_version_paths_in_the_docs_are_current():
    from cxrbench.tasking import load_tasks

    versions = {name.split("/", 1)[1]: spec.version for name, spec in load_tasks().items()}
    stale = []
    for doc in ("README.md", "submissions/README.md", *(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))):
        for task, version in re.findall(r"/(?:quick|standard)/([a-z_]+-\d+(?:-[a-z0-9]+)?)@(\d+)/", (REPO / doc).read_text()):
            if task in versions and int(version) != versions[task]:
                stale.append(f"{doc}: {task}@{version} (current: {versions[task]})")
    assert not stale, stale


def test_the_timeouts_in_submissions_readme_are_the_task_files():
    from cxrbench.tasking import get_task

    text = (REPO / "submissions" / "README.md").read_text()
    for budget in ("quick", "standard"):
        row = next(line for line in text.splitlines() if line.startswith(f"| `{budget}` (phantom tasks)"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        generator = get_task("phantom/supplement-100").budget(budget)
        classifier = get_task("phantom/classify").budget(budget)
        assert cells[2:5] == [f"{generator.generator_timeout_s} s", f"{classifier.classifier_timeout_s} s",
                              f"{generator.memory_limit_gb:g} GB"], row
