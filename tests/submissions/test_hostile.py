"""Hostile submissions: every escape the probes found, run through the real worker under bubblewrap.

Each probe asserts that nothing outside the sandbox was read or changed and that the run ends in
one clear SubmissionError (which `evaluate` turns into a `failed` record), never a hang or a
traceback. The read/write/socket probes run together in one sandboxed generator that reports,
per attempt, whether it got through (inside an image, the only thing that comes back).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from sandbox_helpers import GEN, SIZE, decode_image, make_sub, one_line, require_sandbox, run

from cxrbench.errors import SubmissionError


@pytest.fixture(scope="module", autouse=True)
def _sandbox():
    require_sandbox()


# ------------------------------------------------------------------ host state the probes aim at
class Host:
    def __init__(self, root: Path):
        self.root = root
        self.token = secrets.token_hex(16)
        self.secret = root / "cache" / "labels.csv"  # stands in for the cache with test labels
        self.secret.parent.mkdir(parents=True)
        self.secret.write_text(f"image_id,Cardiomegaly\n{self.token},1\n")
        self.victim = root / "results" / "record.json"  # a published record
        self.victim.parent.mkdir()
        self.victim.write_text('{"macro_auroc": 0.7}')
        self.unix_path = root / "host.sock"

    def state(self) -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in sorted(self.root.rglob("*")) if p.is_file()}


READ_ATTEMPTS = {
    "open": "open(SECRET).read()",
    "subprocess_cat": "__import__('subprocess').run(['cat', SECRET], capture_output=True, text=True).stdout",
    "os_system": "(os.system(f'cat {SECRET} > {WORK}/leak.txt'), open(f'{WORK}/leak.txt').read())[1]",
    "fork_execv": "fork_exec_cat()",
    "posixsubprocess": "posixsubprocess_cat()",
    "ctypes_open": "ctypes_read(SECRET)",
    "pyarrow_fs": "__import__('pyarrow.fs', fromlist=['_']).LocalFileSystem().open_input_stream(SECRET).read().decode()",
    "torch_from_file": "bytes(__import__('torch').from_file(SECRET, size=os.path.getsize(SECRET) if os.path.exists(SECRET) else 64, dtype=__import__('torch').uint8).tolist()).decode()",
    "os_link": "(os.link(SECRET, WORK + '/l'), open(WORK + '/l').read())[1]",
    "etc_shadow": "open('/etc/shadow').read()",
    "parent_proc": "scan_proc(TOKEN)",
}
WRITE_ATTEMPTS = {
    "os_replace": "open(WORK + '/x', 'w').write('0.5'); os.replace(WORK + '/x', VICTIM)",
    "pyarrow_write": "__import__('pyarrow.fs', fromlist=['_']).LocalFileSystem().open_output_stream(VICTIM).write(b'0.5')",
    "torch_save": "__import__('torch').save({'x': 1}, VICTIM)",
    "to_parquet": "__import__('pandas').DataFrame({'a': [0.5]}).to_parquet(VICTIM)",
    "makedirs": "os.makedirs(os.path.join(os.path.dirname(VICTIM), 'new'))",
    "truncate": "os.truncate(VICTIM, 0)",
    "remove": "os.remove(VICTIM)",
    "write_submission": "open(SUB + '/planted.py', 'w').write('x')",
    "write_python": "open(os.path.join(os.path.dirname(os.__file__), 'planted.py'), 'w').write('x')",
    "unix_socket": "ctypes_connect_unix(UNIX_PATH)",
    "tcp_socket": "ctypes_connect_tcp(TCP_PORT)",
}

HELPERS = '''
import ctypes, ctypes.util, struct
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

def ctypes_read(path):
    fd = libc.open(path.encode(), 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "open")
    buf = ctypes.create_string_buffer(4096)
    n = libc.read(fd, buf, 4096)
    return buf.raw[:max(n, 0)].decode(errors="replace")

def fork_exec_cat():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 1)
        os.execv("/bin/cat", ["cat", SECRET])
    os.close(w)
    data = os.read(r, 4096).decode()
    os.waitpid(pid, 0)
    return data

def posixsubprocess_cat():
    import _posixsubprocess
    r, w = os.pipe()
    errpipe_read, errpipe_write = os.pipe()
    pid = _posixsubprocess.fork_exec(
        [b"/bin/cat", SECRET.encode()], [b"/bin/cat"], True, (errpipe_write,), None, None,
        -1, -1, -1, w, -1, -1, errpipe_read, errpipe_write, True, False, -1, None, None, None, -1, None, False)
    os.close(w)
    os.close(errpipe_write)
    data = os.read(r, 4096).decode()
    os.waitpid(pid, 0)
    return data

def scan_proc(token):
    found = []
    for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:  # not itself
        for part in ("environ", "cmdline"):
            try:
                if token in open(f"/proc/{pid}/{part}", "rb").read().decode(errors="replace"):
                    found.append(f"{pid}/{part}")
            except OSError:
                pass
        try:
            maps = open(f"/proc/{pid}/maps").read().splitlines()
            with open(f"/proc/{pid}/mem", "rb") as mem:
                for line in maps:
                    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                    if "r" not in line.split()[1] or hi - lo > 1 << 26:
                        continue
                    try:
                        mem.seek(lo)
                        if token.encode() in mem.read(hi - lo):
                            found.append(f"{pid}/mem")
                    except (OSError, ValueError, OverflowError):
                        pass
        except OSError:
            pass
    return "LEAK " + TOKEN if found else ""

def ctypes_connect_unix(path):
    s = libc.socket(1, 1, 0)  # AF_UNIX, SOCK_STREAM
    addr = struct.pack("H108s", 1, path.encode())
    if libc.connect(s, addr, len(addr)) != 0:
        raise OSError(ctypes.get_errno(), "connect")

def ctypes_connect_tcp(port):
    s = libc.socket(2, 1, 0)  # AF_INET
    addr = struct.pack("!HH4s8x", 0, port, bytes([127, 0, 0, 1]))
    addr = struct.pack("H", 2) + addr[2:]
    if libc.connect(s, addr, len(addr)) != 0:
        raise OSError(ctypes.get_errno(), "connect")
'''


def attempts_body(host: Host, tcp_port: int, work: str = "/sandbox/work", sub: str = "/sandbox/submission") -> str:
    consts = (f"SECRET = {str(host.secret)!r}\nVICTIM = {str(host.victim)!r}\nTOKEN = {host.token!r}\n"
              f"UNIX_PATH = {str(host.unix_path)!r}\nTCP_PORT = {tcp_port}\nWORK = {work!r}\nSUB = {sub!r}\n")
    lines = [consts, HELPERS, "results = {}"]
    for kind, table in (("read", READ_ATTEMPTS), ("write", WRITE_ATTEMPTS)):
        for name, expr in table.items():
            lines.append(textwrap.dedent(f"""
            try:
                _got = {expr}
                results[{name!r}] = "LEAK" if ({kind!r} == "write" or TOKEN in str(_got)) else "blocked: no secret"
            except BaseException as exc:
                results[{name!r}] = "blocked: " + type(exc).__name__
            """))
    lines.append(textwrap.dedent("""
    blob = json.dumps(results).encode()
    img = np.zeros((len(seeds), size, size), np.uint8)
    img.reshape(-1)[:len(blob)] = np.frombuffer(blob, np.uint8)
    return img
    """))
    return "\n".join(lines)


def _servers(host: Host):
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(host.unix_path))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    for server in (unix, tcp):
        server.listen(1)
        server.setblocking(False)
    return unix, tcp


def _accepted(servers) -> list:
    connections = []
    for server in servers:
        try:
            connections.append(server.accept())
        except BlockingIOError:
            pass
        server.close()
    return connections


@pytest.fixture(scope="module")
def escape_results():
    # outside /tmp: the sandbox has a private /tmp, where a path under the host's /tmp could be re-created
    host = Host(Path(tempfile.mkdtemp(prefix="cxrbench-hostile-", dir="/var/tmp")))
    yield from _escape(host)
    shutil.rmtree(host.root, ignore_errors=True)


def _escape(host: Host):
    servers = _servers(host)
    os.environ["CXRBENCH_CHEXPERT_ROOT_PROBE"] = host.token  # the parent's environment holds the token
    before = host.state()
    try:
        got = run(make_sub(host.root / "sub", attempts_body(host, servers[1].getsockname()[1])),
                  denied=[host.secret.parent, host.victim.parent], timeout=60)
    finally:
        del os.environ["CXRBENCH_CHEXPERT_ROOT_PROBE"]
    connections = _accepted(servers)
    after = {k: v for k, v in host.state().items() if "/sub/" not in k}
    yield decode_image(got["s0"]), before, after, connections


@pytest.fixture(scope="module")
def control_results(tmp_path_factory):
    """The same attempts run in this process, unsandboxed: every one of them must get through,
    or the sandboxed result above would prove nothing."""
    host = Host(tmp_path_factory.mktemp("control"))
    servers = _servers(host)
    work, sub = host.root / "work", host.root / "sub"
    work.mkdir()
    sub.mkdir()
    namespace: dict = {}
    os.environ["CXRBENCH_CHEXPERT_ROOT_PROBE"] = host.token
    # another process whose environment holds the token (killed below; long enough for a slow scan of /proc)
    holder = subprocess.Popen(["sleep", "900"])
    try:
        exec(GEN.format(body=textwrap.indent(attempts_body(host, servers[1].getsockname()[1], str(work), str(sub)),
                                             " " * 8)), namespace)
        image = namespace["Gen"]().generate(None, [0], SIZE)
    finally:
        del os.environ["CXRBENCH_CHEXPERT_ROOT_PROBE"]
        holder.kill()
        holder.wait()
    _accepted(servers)
    return decode_image(image)


@pytest.mark.parametrize("attempt", [*READ_ATTEMPTS, *WRITE_ATTEMPTS])
def test_escape_is_blocked(escape_results, attempt):
    results, _, _, _ = escape_results
    assert results[attempt].startswith("blocked"), f"{attempt}: {results[attempt]}"


@pytest.mark.parametrize("attempt", [a for a in [*READ_ATTEMPTS, *WRITE_ATTEMPTS] if a not in ("etc_shadow",)])
def test_each_attempt_works_without_the_sandbox(control_results, attempt):
    assert control_results[attempt] == "LEAK", f"{attempt}: the probe itself is broken ({control_results[attempt]})"


def test_escapes_left_the_host_untouched(escape_results):
    _, before, after, connections = escape_results
    assert after == {k: v for k, v in before.items() if "/sub/" not in k}
    assert connections == []


def test_gc_patch_of_the_audit_hook_gains_nothing(tmp_path):
    """Switch the in-process hook off (its closure, through gc): bubblewrap still hides the host."""
    host = Host(tmp_path)
    body = f"""
    import gc, types
    for obj in gc.get_objects():
        if type(obj) is types.FunctionType and obj.__name__ == "hook" and obj.__closure__ and \
                obj.__code__.co_filename.endswith("worker.py"):
            for cell in obj.__closure__:
                if isinstance(cell.cell_contents, list):
                    cell.cell_contents = ["/"] if cell.cell_contents else []
    probe = open("/sandbox/work/probe.txt", "w"); probe.write("hook off"); probe.close()
    assert open("/etc/ld.so.cache", "rb").read(4)  # the hook no longer refuses anything
    open({str(host.secret)!r}).read()
    """
    with pytest.raises(SubmissionError) as exc:
        run(make_sub(tmp_path / "sub", body))
    assert "FileNotFoundError" in one_line(exc)


def _host_processes_with(marker: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                out.append(int(pid))
        except OSError:
            pass
    return out


def test_fork_bomb_is_stopped(tmp_path):
    body = """
    for _ in range(400):
        if os.fork() == 0:
            import time; time.sleep(30); os._exit(0)
    import time; time.sleep(30)
    """
    start = time.monotonic()
    with pytest.raises(SubmissionError) as exc:
        run(make_sub(tmp_path / "sub", body), max_processes=32)
    assert "processes" in one_line(exc) or "fork" in str(exc.value) or "BlockingIOError" in str(exc.value)
    assert time.monotonic() - start < 15


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandbox", "unsafe-no-sandbox"])
def test_daemon_does_not_outlive_the_run(tmp_path, sandboxed):
    """A double-forked, setsid daemon is killed when its run ends, with or without the sandbox."""
    marker = f"{secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}"
    body = f"""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "{marker}"])
        os._exit(0)
    import time; time.sleep(0.5)
    """
    run(make_sub(tmp_path / "sub", body), sandboxed=sandboxed)
    time.sleep(0.3)
    alive = _host_processes_with(marker)
    for pid in alive:  # leave no daemon behind, whatever the outcome
        os.kill(pid, 9)
    assert alive == []


def test_memory_fan_out_is_stopped(tmp_path):
    """Three children of 1.2 GB each under a 3 GB tree limit: each is under the per-process limit."""
    body = """
    kids = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            block = b"\\1" * (1200 << 20)
            import time; time.sleep(30); os._exit(0)
        kids.append(pid)
    import time; time.sleep(30)
    """
    with pytest.raises(SubmissionError) as exc:
        run(make_sub(tmp_path / "sub", body), memory_gb=3)
    msg = one_line(exc)
    assert "memory limit" in msg or "MemoryError" in msg


def test_stdout_without_newline_cannot_hang_the_parent(tmp_path):
    body = """
    os.write(protocol_fd(), b"x" * 200_000)
    import time; time.sleep(60)
    """
    start = time.monotonic()
    with pytest.raises(SubmissionError) as exc:
        run(make_sub(tmp_path / "sub", body), timeout=30)
    assert "without a newline" in one_line(exc)
    assert time.monotonic() - start < 15


def test_partial_line_then_silence_times_out_on_time(tmp_path):
    body = """
    os.write(protocol_fd(), b'{"event": "sha')
    import time; time.sleep(60)
    """
    start = time.monotonic()
    with pytest.raises(SubmissionError, match="timed out after 3 s"):
        run(make_sub(tmp_path / "sub", body), timeout=3)
    assert time.monotonic() - start < 10


def test_stderr_flood_does_not_fail_an_honest_run(tmp_path):
    body = """
    for i in range(2000):
        sys.stderr.write(f"\\r{i:5d} it [00:00, 1234.5 it/s] progress bar " + "#" * 500)
    print("a print goes to stderr, not the protocol")
    """
    got = run(make_sub(tmp_path / "sub", body), timeout=30)
    assert got["s0"].shape == (1, SIZE, SIZE)


def _shard_body(make: str) -> str:
    return f"""
    out = "/sandbox/work/out/s0.npy"
{textwrap.indent(textwrap.dedent(make), "    ")}
    os.write(protocol_fd(), b'{{"event": "shard", "name": "s0", "n": 1}}\\n')
    import time; time.sleep(60)
    """


@pytest.mark.parametrize("case, make, message", [
    ("fifo", "os.mkfifo(out)", "not a regular file"),
    ("sparse", """
        with open(out, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": (1, 64, 64)})
        os.truncate(out, 3 << 30)
        """, "bytes; its header says"),
    ("huge_header", """
        with open(out, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": (10**6, 64, 64)})
        """, "shape"),
    ("symlink", "os.symlink('/usr/lib/os-release', out)", "not a regular file"),
    ("object_dtype", "np.save(out, np.array([{'a': 1}], dtype=object), allow_pickle=True)", "dtype object"),
    ("float_images", "np.save(out, np.zeros((1, 64, 64), np.float32))", "dtype float32"),
    ("not_npy", "open(out, 'wb').write(b'PK\\x03\\x04 a zip, not a .npy')", "not a valid .npy"),
])
def test_bad_shard_files_fail_the_task(tmp_path, case, make, message):
    start = time.monotonic()
    with pytest.raises(SubmissionError) as exc:
        run(make_sub(tmp_path / "sub", _shard_body(make)), timeout=30)
    assert message in one_line(exc)
    assert time.monotonic() - start < 15


@pytest.mark.parametrize("line, message", [
    (b"[1, 2]", "malformed worker event"),
    (b"hello", "not JSON"),
    (b'{"event": "shard", "name": "../../etc/passwd", "n": 1}', "unknown shard"),
    (b'{"event": "shard", "name": "s0", "n": "many"}', "bad count"),
    (b'{"event": "launch"}', "malformed worker event"),
    (b'{"event": "error", "error": ["x"]}', "malformed worker error event"),
])
def test_malformed_events_fail_the_task(tmp_path, line, message):
    body = f"""
    os.write(protocol_fd(), {line!r} + b"\\n")
    import time; time.sleep(60)
    """
    with pytest.raises(SubmissionError) as exc:
        run(make_sub(tmp_path / "sub", body), timeout=30)
    assert message in one_line(exc)
