"""Hostile protocol traffic: whatever a worker writes on its channel, the parent neither crashes
(every exception while reading becomes one SubmissionError line) nor stays busy (the channel's
total bytes are capped)."""

from __future__ import annotations

import time

import pytest
from sandbox_helpers import make_sub, one_line, require_sandbox, run

from cxrbench.errors import SubmissionError


@pytest.fixture(scope="module", autouse=True)
def _sandbox():
    require_sandbox()


@pytest.mark.parametrize("line", [
    b'{"event": "shard", "name": "s0", "n": ' + b"9" * 5000 + b"}",  # int() over 4,300 digits: ValueError
    b"[" * 30_000,  # RecursionError in the decoder
], ids=["5000-digit-int", "deep-nesting"])
def test_any_unreadable_event_is_one_line(tmp_path, line):
    body = f"""
    os.write(protocol_fd(), {line!r} + b"\\n")
    import time; time.sleep(60)
    """
    with pytest.raises(SubmissionError) as exc:
        run(make_sub(tmp_path / "sub", body), timeout=30)
    assert "malformed worker event" in one_line(exc)


def test_error_text_is_printable(tmp_path):
    """An error event with a lone surrogate and an escape sequence: the message stays one line that
    a terminal shows as text and a UTF-8 record can hold (a raw surrogate fails every JSON writer)."""
    body = r"""
    os.write(protocol_fd(), b'{"event": "error", "error": "\\ud800 \\u001b[2J\\nline two"}\n')
    os._exit(3)
    """
    with pytest.raises(SubmissionError) as exc:
        run(make_sub(tmp_path / "sub", body), timeout=30)
    message = one_line(exc)
    message.encode("utf-8")
    assert "\x1b" not in message and "\\x1b[2J" in message and "\\ud800" in message


def test_newline_flood_is_cut_off(tmp_path):
    """1 GB of newlines on the protocol channel: refused after the channel's byte cap, in seconds."""
    body = """
    fd, block = protocol_fd(), b"\\n" * (1 << 20)
    for _ in range(1024):
        os.write(fd, block)
    """
    start = time.monotonic()
    with pytest.raises(SubmissionError) as exc:
        run(make_sub(tmp_path / "sub", body), timeout=60)
    assert "protocol channel" in one_line(exc)
    assert time.monotonic() - start < 20
