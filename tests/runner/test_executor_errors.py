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


def _listener(answer: bytes | None):
    """A TCP server on a free port that answers every connection with `answer` (None: never)."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if answer is not None:
                conn.recv(64)
                conn.sendall(answer)
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.mark.parametrize("answer", [b"HTTP/1.1 400 Bad Request\r\n\r\n", None], ids=["http-server", "silent"])
def test_an_address_where_no_ray_head_listens_fails_within_10_s_with_one_line(tmp_path, monkeypatch, capsys, answer):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'cxrbench[ray]')")
    server = _listener(answer)
    address = f"127.0.0.1:{server.getsockname()[1]}"
    start = time.perf_counter()
    try:
        code, err = run_main(monkeypatch, capsys, *_args(tmp_path, "--executor", "ray", "--address", address))
    finally:
        server.close()
    assert time.perf_counter() - start < 10
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and f"--address {address}: something listens there, but not a Ray head" \
        in lines[0], err


def test_an_http2_server_passes_the_ray_head_check():
    from cxrbench.runner.executors.ray import check_reachable

    server = _listener(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))  # a SETTINGS frame, as a gRPC server sends
    try:
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}")  # raises when the answer is not HTTP/2
    finally:
        server.close()


@pytest.mark.parametrize("extra, message", [
    (("--executor", "dask"), "--executor 'dask': choose one of local, ray"),
    (("--address", "auto"), "--address and --ray-workers need --executor ray"),
])
def test_other_bad_executor_options_are_one_line(tmp_path, monkeypatch, capsys, extra, message):
    code, err = run_main(monkeypatch, capsys, *_args(tmp_path, *extra))
    assert code == 2 and err.strip() == f"error: {message}"


def test_a_lost_ray_node_is_one_short_line_in_the_progress():
    from cxrbench.runner.executors.ray import _first_line

    node_death = ("Task failed because the node it was running on is dead or unavailable. Node IP: 10.0.0.2, node ID: "
                  + "f" * 56 + ". This can happen if the node was preempted, had a hardware failure, or its raylet "
                  "crashed unexpectedly. To see node death information, use `ray list nodes`.\nmore")
    assert _first_line(RuntimeError(node_death)) == node_death.split(" This can")[0]
    assert _first_line(RuntimeError("worker died\ndetails")) == "worker died"
    assert len(_first_line(RuntimeError("x" * 500))) == 200
