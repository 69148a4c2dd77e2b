"""The worker protocol, read so that the submission can neither hang nor crash the parent.

- the worker writes one JSON object per line on stdout (its own prints go to stderr); the parent
  reads stdout and stderr concurrently, non-blocking, with bounded buffers (one line, the
  channel's total, the kept end of stderr), until a deadline;
- every event is validated (`parse_event`): a dict with a known `event`, a shard name the parent
  asked for, sane types; anything else, including whatever the JSON decoder raises (a
  5,000-digit number, 30,000 nested brackets), is a SubmissionError with a one-line reason;
- a shard is read by `load_shard`: a regular file (no symlink, FIFO or device), opened without
  following links and without blocking, its `.npy` header checked (dtype, shape, no objects)
  and its size matched to exactly that before a byte of data is read.
"""

from __future__ import annotations

import json
import os
import selectors
import stat
from collections import deque
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from cxrbench.errors import SubmissionError, printable

MAX_LINE = 64 * 1024  # one protocol line
#: everything a worker may write on the protocol channel: a few short lines per shard it was asked
#: for; a flood (1 GB of newlines) is cut off here instead of keeping the parent busy until the deadline
MAX_CHANNEL_BYTES = 16 << 20
MAX_COUNT = 1 << 40  # a shard's image / row count
STDERR_TAIL = 64 * 1024  # what is kept of stderr (the end, for error messages)
EVENTS = {"shard", "fitted", "done", "error"}


def parse_event(line: bytes, expected: Iterable[str], seen: set[str]) -> dict:
    """One protocol line → a validated event dict (SubmissionError names what is wrong)."""
    try:
        msg = json.loads(line)
    except Exception as exc:  # noqa: BLE001 - ValueError, RecursionError, ...: all the submission's doing
        raise SubmissionError(f"malformed worker event (not JSON: {type(exc).__name__}): {_clip(line)}") from None
    if not isinstance(msg, dict) or msg.get("event") not in EVENTS:
        raise SubmissionError(f"malformed worker event (expected an object with event in {sorted(EVENTS)}): "
                              f"{_clip(line)}")
    if msg["event"] == "shard":
        name, n = msg.get("name"), msg.get("n")
        if not isinstance(name, str) or name not in set(expected):
            raise SubmissionError(f"worker reported an unknown shard {_clip(json.dumps(name).encode())}")
        if name in seen:
            raise SubmissionError(f"worker reported shard {name} twice")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < MAX_COUNT:
            raise SubmissionError(f"worker event for shard {name} has a bad count {_clip(repr(n).encode())}")
        seen.add(name)
    elif msg["event"] == "error":
        if not isinstance(msg.get("error"), str):
            raise SubmissionError(f"malformed worker error event: {_clip(line)}")
        msg["error"] = printable(msg["error"][:2000])  # shown in one line and kept in a UTF-8 record
    return msg


def _clip(line: bytes, most: int = 120) -> str:
    text = printable(line[:4 * most].decode("utf-8", errors="replace").strip())
    return text if len(text) <= most else text[:most] + "…"


class StreamReader:
    """Drain a child's stdout and stderr together; `poll(timeout)` returns complete stdout lines."""

    def __init__(self, stdout, stderr):
        self.sel = selectors.DefaultSelector()
        for stream, name in ((stdout, "out"), (stderr, "err")):
            os.set_blocking(stream.fileno(), False)
            self.sel.register(stream.fileno(), selectors.EVENT_READ, name)
        self.partial = b""
        self.channel_bytes = 0
        self.err: deque[bytes] = deque()
        self.err_bytes = 0
        self.open = 2

    def poll(self, timeout: float) -> list[bytes]:
        lines: list[bytes] = []
        if not self.open:
            return lines
        for key, _ in self.sel.select(timeout=max(timeout, 0)):
            try:
                chunk = os.read(key.fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                self.sel.unregister(key.fd)
                self.open -= 1
                continue
            if key.data == "err":
                self._keep_err(chunk)
                continue
            self.channel_bytes += len(chunk)
            if self.channel_bytes > MAX_CHANNEL_BYTES:
                raise SubmissionError(f"worker wrote over {MAX_CHANNEL_BYTES >> 20} MiB on the protocol channel "
                                      f"(a few short lines per shard are expected; print to stderr instead)")
            if not chunk.strip() and b"\n" in chunk:  # blank lines only: a flood of them costs no split
                done, self.partial = [self.partial], b""
            else:
                self.partial += chunk
                *done, self.partial = self.partial.split(b"\n")
            lines += [d for d in filter(None, done) if d.strip()]
            if len(self.partial) > MAX_LINE:
                raise SubmissionError(f"worker wrote over {MAX_LINE // 1024} KiB on stdout without a newline "
                                      f"(the protocol channel; print to stderr instead)")
        return lines

    def finish(self) -> list[bytes]:
        """The last (unterminated) stdout line, once both streams are closed."""
        rest, self.partial = self.partial, b""
        return [rest] if rest.strip() else []

    def _keep_err(self, chunk: bytes) -> None:
        self.err.append(chunk)
        self.err_bytes += len(chunk)
        while self.err_bytes - len(self.err[0]) >= STDERR_TAIL:
            self.err_bytes -= len(self.err.popleft())

    def stderr_tail(self, lines: int = 5) -> list[str]:
        text = b"".join(self.err)[-STDERR_TAIL:].decode("utf-8", errors="replace")
        return [printable(s) for s in text.replace("\r", "\n").splitlines() if s.strip()][-lines:]

    def close(self) -> None:
        self.sel.close()


def load_shard(path: Path, dtypes: tuple[np.dtype, ...] | tuple[str, ...], shape: tuple[int, ...],
               where: str) -> np.ndarray:
    """Read one output shard safely (see the module docstring); SubmissionError on any problem."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise SubmissionError(f"{where}: shard file {path.name} is missing ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SubmissionError(f"{where}: shard file {path.name} is not a regular file "
                              f"({_kind(st.st_mode)}); refused")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise SubmissionError(f"{where}: cannot open shard {path.name} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SubmissionError(f"{where}: shard file {path.name} is not a regular file; refused")
        try:
            version = np.lib.format.read_magic(fh)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)(fh, max_header_size=10_000)
        except Exception as exc:  # noqa: BLE001 - a header numpy cannot read, whatever it raises
            raise SubmissionError(f"{where}: shard {path.name} is not a valid .npy file "
                                  f"({printable(str(exc)[:200])})") from None
        got_shape, fortran, dtype = header
        allowed = [np.dtype(d) for d in dtypes]
        if dtype.hasobject or dtype not in allowed:
            raise SubmissionError(f"{where}: shard {path.name} has dtype {dtype}; expected "
                                  f"{' or '.join(str(d) for d in allowed)}")
        if tuple(got_shape) != tuple(shape):
            raise SubmissionError(f"{where}: shard {path.name} has shape {tuple(got_shape)}; expected {tuple(shape)}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if st.st_size != fh.tell() + nbytes:
            raise SubmissionError(f"{where}: shard {path.name} is {st.st_size} bytes; its header says "
                                  f"{fh.tell() + nbytes}")
        data = fh.read(nbytes)
    if len(data) != nbytes:
        raise SubmissionError(f"{where}: shard {path.name} was truncated while being read")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return np.ascontiguousarray(array)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return name
    return "not a regular file"

