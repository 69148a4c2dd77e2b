"""The Streamlit server process behind `cxrbench leaderboard` and the screenshots.

Streamlit runs in its own process group, so stopping it means signalling the group (its helper
processes included), and a signal to `cxrbench leaderboard` itself (SIGTERM from a service
manager, SIGHUP from a closed terminal, Ctrl-C) is forwarded to that group before it exits.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from cxrbench.cache_location import CACHE_ENV

APP = Path(__file__).with_name("app.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_command(address: str, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
            "--server.address", address, "--server.port", str(port), "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer", *extra]


def start(results: Path, address: str, port: int, *extra: str, cache_dir: Path | None = None,
          **popen) -> subprocess.Popen:
    """Start Streamlit on the store `results` in a new process group."""
    env = {**os.environ, "CXRBENCH_RESULTS": str(results)}
    if cache_dir:
        env[CACHE_ENV] = str(cache_dir)
    return subprocess.Popen(streamlit_command(address, port, *extra), env=env, start_new_session=True, **popen)


def stop(proc: subprocess.Popen, grace: float = 10.0) -> int:
    """Stop a process started by `start` and its group: SIGTERM, then SIGKILL if it lingers."""

    def signal_group(sig) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass

    signal_group(signal.SIGTERM)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        signal_group(signal.SIGKILL)
        return proc.wait()


def run(results: Path, address: str, port: int) -> int:
    """Serve until Streamlit exits or this process is told to stop; returns the exit status."""
    proc = start(results, address, port)
    stopped_by: list[int] = []

    def forward(signum, _frame) -> None:
        stopped_by.append(signum)
        raise KeyboardInterrupt  # leave proc.wait() below; the group is stopped in `finally`

    handlers = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return proc.wait()
    except KeyboardInterrupt:  # Ctrl-C (SIGINT) or a forwarded signal
        stop(proc)
        return 128 + (stopped_by[0] if stopped_by else signal.SIGINT)
    finally:
        if proc.poll() is None:
            stop(proc)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
