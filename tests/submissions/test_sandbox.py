"""The sandbox: submission code runs in its own process, within limits, and its outputs are checked.

Under bubblewrap where it can run; elsewhere through the unsandboxed path (audit hook, rlimits,
watchdog), whose messages these tests also check."""

from pathlib import Path

import pytest
from sandbox_helpers import SANDBOXED, run_generator

from cxrbench.errors import SubmissionError
from cxrbench.submissions import Limits

GEN = """
import numpy as np

class Gen:
    def __init__(self, submission_dir, device):
        self.dir = submission_dir

    def generate(self, conditions, seeds, size):
{body}
        return np.stack([np.full((size, size), s % 256, np.uint8) for s in seeds])
"""


def generator(tmp_path, body="        pass") -> Path:
    root = tmp_path / "sub"
    root.mkdir(exist_ok=True)
    (root / "submission.yaml").write_text('name: toy\nversion: "1"\nkind: generator\nentry_point: gen:Gen\ntraining_data: []\n')
    (root / "gen.py").write_text(GEN.format(body=body))
    return root


def run(root: Path, secret: Path, n=5, size=8, timeout=60, memory_gb=16):
    limits = Limits(timeout_s=timeout, memory_gb=memory_gb, sandboxed=SANDBOXED)
    return run_generator(root, n=n, size=size, limits=limits, denied=[secret])


@pytest.fixture
def secret(tmp_path) -> Path:
    """Stands in for the benchmark's cache, where test labels live."""
    d = tmp_path / "cache"
    d.mkdir()
    (d / "labels.csv").write_text("image_id,Cardiomegaly\nx,1\n")
    return d


def test_well_behaved_generator(tmp_path, secret):
    got = run(generator(tmp_path), secret)
    assert got["s0"].shape == (5, 8, 8) and got["s0"][3, 0, 0] == 3


def test_cannot_read_the_benchmark_cache(tmp_path, secret):
    body = f"        open({str(secret / 'labels.csv')!r}).read()"
    with pytest.raises(SubmissionError, match="outside its sandbox"):
        run(generator(tmp_path, body), secret)


def test_cannot_read_arbitrary_files(tmp_path, secret):
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("private")
    with pytest.raises(SubmissionError, match="outside its sandbox"):
        run(generator(tmp_path, f"        open({str(outside)!r}).read()"), secret)


def test_no_network(tmp_path, secret):
    body = "        import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)"
    with pytest.raises(SubmissionError, match="network"):
        run(generator(tmp_path, body), secret)


def test_crash_is_reported_with_its_message(tmp_path, secret):
    with pytest.raises(SubmissionError, match="ZeroDivisionError"):
        run(generator(tmp_path, "        1 / 0"), secret)


def test_hang_times_out(tmp_path, secret):
    with pytest.raises(SubmissionError, match="timed out after 3 s"):
        run(generator(tmp_path, "        import time; time.sleep(60)"), secret, timeout=3)


def test_memory_limit(tmp_path, secret):
    body = "        x = bytearray(6 << 30)"
    with pytest.raises(SubmissionError, match="MemoryError|memory"):
        run(generator(tmp_path, body), secret, memory_gb=5)


@pytest.mark.parametrize("ret, message", [
    ("np.zeros((len(seeds), size, size), np.float32)", "dtype float32"),
    ("np.zeros((len(seeds) - 1, size, size), np.uint8)", r"shape \(4, 8, 8\)"),
    ("np.zeros((len(seeds), size + 1, size), np.uint8)", r"shape \(5, 9, 8\)"),
])
def test_wrong_outputs(tmp_path, secret, ret, message):
    with pytest.raises(SubmissionError, match=message):
        run(generator(tmp_path, f"        return {ret}"), secret)


def test_sandbox_sees_only_condition_columns(tmp_path, secret):
    body = ("        assert list(conditions.columns) == ['age'], list(conditions.columns)\n"
            "        import os; assert sorted(os.listdir('.')) == ['conditions.parquet', 'out', 'request.json', 'tmp'], os.listdir('.')")
    run(generator(tmp_path, body), secret)


ZOMBIES = """
import os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import sandbox_helpers as h
from cxrbench.errors import SubmissionError
from cxrbench.runner.interrupt import adopt_orphans

assert adopt_orphans()
root = h.make_sub(Path(sys.argv[1]), "import time; time.sleep(60)")
for _ in range(2):
    try:
        h.run(root, timeout=2)
    except SubmissionError:
        pass
mine = []
for entry in os.scandir("/proc"):
    if entry.name.isdigit():
        try:
            fields = open(f"/proc/{entry.name}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] == "Z":
            mine.append(entry.name)
print("zombies", len(mine))
"""


def test_a_killed_sandbox_leaves_no_zombie_in_the_driver(tmp_path):
    """The driver reaps its orphaned descendants (`adopt_orphans`): each sandbox killed at its
    timeout would otherwise leave bubblewrap's namespace child behind as the driver's zombie."""
    import subprocess
    import sys

    script = tmp_path / "zombies.py"
    script.write_text(ZOMBIES)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "sub"), str(Path(__file__).parent)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "zombies 0", out.stdout
