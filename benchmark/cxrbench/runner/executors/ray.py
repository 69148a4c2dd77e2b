"""The `ray` executor: each job is a Ray Core task declaring its resources (`num_gpus=1` for
generation, training and audit on CUDA, one CPU otherwise), on a local Ray instance or a cluster.

A task whose worker process died (killed, out of memory, node lost) comes back to the driver loop
as a lost job, which submits it again (`LOST_ATTEMPTS`) and says so in the progress output and the
record; Ray's own retries stay off, since those would be invisible. The driver loop also retries
once a job whose reported entry does not check out. Workers read and write the same cache as the
driver, so on a cluster the cache root must be on a filesystem every node mounts.
"""

from __future__ import annotations

import signal
import socket
import threading
from typing import Any

from cxrbench.errors import ConfigError
from cxrbench.runner.cache import Cache
from cxrbench.runner.executors.base import Executor
from cxrbench.runner.plan import Job, JobResult, run_job

INSTALL = "--executor ray needs Ray, which is not installed: pip install 'cxrbench[ray]'"
#: seconds to wait for a Ray head at HOST:PORT before saying it is unreachable
CONNECT_TIMEOUT_S = 5.0


def _on_worker(job: Job, cache: Cache) -> JobResult:
    return run_job(job, cache, remote=True)


#: what an HTTP/2 client sends first (RFC 9113 3.4), then an empty SETTINGS frame
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ConfigError unless a gRPC server (a Ray head's GCS) answers at HOST:PORT: Ray itself
    retries for minutes against a silent address or another kind of server."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--address {address!r}: expected auto or HOST:PORT of a Ray head (e.g. 10.0.0.1:6379)")
    try:
        conn = socket.create_connection((host, int(port)), timeout=timeout_s)
    except OSError as exc:
        raise ConfigError(f"--address {address}: no Ray head reachable there within {timeout_s:.0f} s ({exc}); "
                          f"start one with `ray start --head --port {port}` or check the address") from None
    with conn:  # a gRPC server answers the HTTP/2 preface with a SETTINGS frame (type 4)
        try:
            conn.sendall(_HTTP2_PREFACE)
            answer = conn.recv(9)
        except OSError:
            answer = b""
    if len(answer) < 4 or answer[3] != 4:
        raise ConfigError(f"--address {address}: something listens there, but not a Ray head (no gRPC answer within "
                          f"{timeout_s:.0f} s); give the head's GCS port (`ray start --head --port PORT`)")


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, workers: int = 0, device: str = "cpu"):
        self.address, self.workers, self.device = address, workers, device
        self._started_here = False
        self._remote = None
        self._running: set = set()  # object refs of the tasks submitted and not yet waited for

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(INSTALL) from None
        if self.address and self.address != "auto" and not self.address.startswith("ray://"):
            check_reachable(self.address)
        # results and errors come back as data; worker logs would only tear the progress view
        options: dict = dict(log_to_driver=False, configure_logging=False)
        sigterm = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
        try:
            if ray.is_initialized():
                pass  # a Ray instance this process is already connected to (a notebook, the tests): used, kept
            elif self.address:
                ray.init(address=self.address, **options)
            else:
                self._started_here = True  # before init: an init interrupted half-way is shut down too
                ray.init(num_cpus=self.workers or None, include_dashboard=False, **options)
                self._end_with_this_process()
        except ConnectionError as exc:
            raise ConfigError(f"--address {self.address}: cannot connect to Ray ({exc})") from None
        finally:
            if sigterm is not None:  # ray.init installs its own SIGTERM handler (sys.exit): the caller's stays
                signal.signal(signal.SIGTERM, sigterm)
        resources = ray.cluster_resources()
        slots = resources.get("GPU", 0) if self.device == "cuda" else resources.get("CPU", 1)
        self.parallelism = max(1, int(slots))
        self._remote = ray.remote(_on_worker)

    def _end_with_this_process(self) -> None:
        """The Ray instance started here ends with this process: a reaper ends Ray's processes if
        this one dies without `close()` (SIGKILL, or a signal with no handler)."""
        import os

        from cxrbench.runner.executors import ray_reaper

        ray_reaper.start(ray_reaper.ray_children(os.getpid()))

    def submit(self, job: Job, cache: Cache) -> Any:
        ref = self._remote.options(num_cpus=job.resources.num_cpus, num_gpus=job.resources.num_gpus,
                                   max_retries=0, name=job.label[:200]).remote(job, cache)
        self._running.add(ref)
        return ref

    def wait(self, handles: list) -> list[tuple[Any, JobResult]]:
        import ray
        from ray.exceptions import RayTaskError

        ready: list = []
        while not ready:  # in slices, so a signal reaches this (the main) thread within a second
            ready, _ = ray.wait(handles, num_returns=1, timeout=1.0)
        more, _ = ray.wait(handles, num_returns=len(handles), timeout=0)
        self._running.difference_update({*ready, *more})
        out = []
        for ref in {*ready, *more}:
            try:
                out.append((ref, ray.get(ref)))
            except RayTaskError as exc:  # a bug, not a CxrbenchError: raise it as it was raised
                raise exc.as_instanceof_cause() from None
            except ray.exceptions.RayError as exc:  # the worker died: the driver loop runs the job again
                out.append((ref, JobResult(key="", error=f"its Ray worker was lost ({_first_line(exc)})", lost=True)))
        return out

    def abort(self) -> None:
        """Cancel the running tasks, killing their worker processes (a sandbox dies with its parent)."""
        import ray

        for ref in self._running:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - finished meanwhile, or the cluster is gone: nothing to stop
                pass
        self._running.clear()

    def close(self) -> None:
        if self._started_here:
            import ray

            self._started_here = False
            ray.shutdown()


def _first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of a Ray error, cut after its last whole sentence within `limit` characters
    (Ray's node-death message goes on with advice that would swamp a progress line)."""
    line = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    if len(line) <= limit:
        return line
    cut = line[:limit].rfind(". ")
    return line[:cut + 1] if cut > 0 else line[:limit]
