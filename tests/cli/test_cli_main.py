"""`cxrbench` through its entry point: error lines keep bracketed text; help shows no placeholder on flags."""

import sys

import pytest


def run_main(monkeypatch, capsys, *args) -> tuple[int, str]:
    """`cxrbench ARGS` through the console entry point: (exit status, stderr)."""
    from cxrbench.cli import main

    monkeypatch.setattr(sys, "argv", ["cxrbench", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


def test_error_message_keeps_bracketed_text(tmp_path, monkeypatch, capsys):
    sub = tmp_path / "bad"
    sub.mkdir()
    (sub / "submission.yaml").write_text('name: "Bad Name!"\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n')
    code, err = run_main(monkeypatch, capsys, "evaluate", str(sub), "--out", str(tmp_path / "runs"),
                         "--cache", str(tmp_path / "cache"), "--device", "cpu")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "pattern '^[a-z0-9][a-z0-9._-]{0,63}$'" in lines[0]  # rich markup would eat "[a-z0-9]"


def test_unknown_task_with_brackets_is_printed_verbatim(monkeypatch, capsys):
    code, err = run_main(monkeypatch, capsys, "tasks", "show", "phantom/[supplement]")
    assert code == 2 and "unknown task 'phantom/[supplement]'" in err


@pytest.mark.parametrize("command", [["evaluate"], ["train-generator"], ["train-classifier"], ["publish"],
                                     ["tasks", "ls"], ["audit"]])
def test_flags_show_no_value_placeholder(command):
    from typer.testing import CliRunner

    from cxrbench.cli import app

    out = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "--help" in out.output and "<bool>" not in out.output
    if command != ["tasks", "ls"]:  # options with values keep their type
        assert any(t in out.output for t in ("<str>", "<path>", "<int>"))


def test_full_disk_is_one_line_not_a_traceback(monkeypatch, capsys):
    import errno

    import cxrbench.cli as cli

    def full(**_):
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/record.json")

    monkeypatch.setattr(cli, "app", full)
    code, err = run_main(monkeypatch, capsys, "evaluate", "x")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: no space left on the device writing runs/x/record.json")
    assert "run the same command again" in lines[0]


def test_other_os_errors_are_not_disguised_as_a_full_disk(monkeypatch):
    import cxrbench.cli as cli

    def broken(**_):
        raise PermissionError(13, "Permission denied", "/root/x")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setattr(sys, "argv", ["cxrbench", "evaluate", "x"])
    with pytest.raises(PermissionError):
        cli.main()
