"""`cxrbench leaderboard` as a process: a SIGTERM to it stops the Streamlit server too."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from cxrbench.leaderboard.serve import free_port


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_stops_streamlit(tmp_path):
    port = free_port()
    env = {**os.environ, "CXRBENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "cxrbench.cli", "leaderboard", "--results", str(tmp_path / "empty"),
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not _serving(port):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode(errors="replace")
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 15
        while _port_open(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _port_open(port), "Streamlit still serves after cxrbench leaderboard was terminated"
    finally:
        if proc.poll() is None:
            proc.kill()
