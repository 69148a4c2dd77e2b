"""The Slurm recipe (docs/slurm.md, docs/slurm/cxrbench-ray.sbatch) and the multi-GPU sections of
docs/classifier.md and docs/ddpm.md only use flags that exist: each `cxrbench <command> …` line is
checked against that command's options, each `accelerate launch …` against accelerate's parser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "slurm" / "cxrbench-ray.sbatch"
PAGES = [ROOT / "docs" / name for name in ("slurm.md", "classifier.md", "ddpm.md")]
#: flags of the Ray executor, built on the scale-out branch: until that merge they are reported, not failed
PENDING = {("evaluate", "--executor"), ("evaluate", "--address")}
COMMAND = re.compile(r"(?:^|[\s`(])cxrbench(?:\.cli)?\s+([a-z][a-z-]+)(.*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9_-]*)")


def _logical_lines(text: str) -> list[str]:
    return text.replace("\\\n", " ").splitlines()


def _invocations(path: Path) -> list[tuple[str, list[str], str]]:
    """(command, its flags, the line) for every `cxrbench <command>` in a file."""
    found = []
    for line in _logical_lines(path.read_text()):
        match = COMMAND.search(line)
        if match and not line.lstrip().startswith("#SBATCH"):
            rest = match.group(2).split("`")[0]  # inline code ends at the backtick
            found.append((match.group(1), FLAG.findall(rest), line.strip()))
    return found


def _options() -> dict[str, set[str]]:
    import typer.main

    from cxrbench.cli import app

    group = typer.main.get_command(app)
    return {name: {opt for p in cmd.params for opt in p.opts + p.secondary_opts}
            for name, cmd in group.commands.items()}


def test_the_sbatch_script_is_valid_bash():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    result = subprocess.run([bash, "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_script_starts_ray_and_runs_evaluate_against_it():
    text = SCRIPT.read_text()
    assert re.search(r"srun [^\n]*-w \"\$\{head_node\}\"[^\n]*\\\n\s+ray start --head", text)
    assert re.search(r"ray start --address=\"\$\{address\}\"", text)
    assert "--executor ray --address \"${address}\"" in text
    assert "CXRBENCH_CACHE:?" in text  # refuses to run without a shared cache


def test_every_cxrbench_flag_in_the_docs_exists():
    options = _options()
    checked, pending, wrong = 0, [], []
    for path in [SCRIPT, *PAGES]:
        for command, flags, line in _invocations(path):
            if command not in options:
                if flags:  # prose ("cxrbench itself") has no flags after it
                    wrong.append(f"{path.name}: unknown command {command!r} in: {line}")
                continue
            for flag in flags:
                checked += 1
                if flag in options[command]:
                    continue
                (pending if (command, flag) in PENDING else wrong).append(f"{path.name}: {command} {flag}")
    assert not wrong, wrong
    assert checked >= 20  # the pages really were read
    if pending:
        pytest.skip(f"flags of the Ray executor not in this checkout's CLI yet (they land with the "
                    f"scale-out merge): {sorted(set(pending))}")


def test_every_accelerate_launch_flag_in_the_docs_exists():
    pytest.importorskip("accelerate", reason="needs accelerate (pip install 'cxrbench[dist]')")
    from accelerate.commands.launch import launch_command_parser

    known = {opt for action in launch_command_parser()._actions for opt in action.option_strings}
    seen = 0
    for path in [SCRIPT, *PAGES]:
        for line in _logical_lines(path.read_text()):
            if "accelerate launch" not in line or "cxrbench.cli" not in line:
                continue  # prose, not a command
            launch_part = line.split("accelerate launch", 1)[1].split("cxrbench.cli", 1)[0]
            for flag in FLAG.findall(launch_part):
                seen += 1
                assert flag in known, f"{path.name}: accelerate launch has no {flag}: {line.strip()}"
    assert seen >= 5
