"""Bad input to `cxrbench evaluate --executor ...`: one line, exit 2, nothing computed or written."""

import sys
import time
from pathlib import Path

import pytest

NOISE = Path(__file__).resolve().parents[2] / "submissions" / "noise"


def run_main(monkeypatch, capsys, *args) -> tuple[int, str]:
    from cxrbench.cli import main

    monkeypatch.setattr(sys, "argv", ["cxrbench", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


def _args(tmp_path, *extra):
    return ("evaluate", str(NOISE), "-t", "phantom/supplement-100", "--seeds", "1", "--out",
            str(tmp_path / "runs"), "--cache", str(tmp_path / "cache"), "--device", "cpu", *extra)


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code, err = run_main(monkeypatch, capsys, *_args(tmp_path, "--executor", "ray"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "pip install 'cxrbench[ray]'" in lines[0]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()


def test_an_unreachable_ray_address_fails_within_seconds_writing_nothing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'cxrbench[ray]')")
    start = time.perf_counter()
    code, err = run_main(monkeypatch, capsys, *_args(tmp_path, "--executor", "ray", "--address", "127.0.0.1:9"))
    assert time.perf_counter() - start < 15
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--address 127.0.0.1:9: no Ray head reachable there" in lines[0], err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("extra, message", [
    (("--executor", "dask"), "--executor 'dask': choose one of local, ray"),
    (("--address", "auto"), "--address and --ray-workers need --executor ray"),
])
def test_other_bad_executor_options_are_one_line(tmp_path, monkeypatch, capsys, extra, message):
    code, err = run_main(monkeypatch, capsys, *_args(tmp_path, *extra))
    assert code == 2 and err.strip() == f"error: {message}"
