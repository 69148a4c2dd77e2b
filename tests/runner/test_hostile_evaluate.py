"""Hostile submissions through `evaluate`: bytes that would crash or stall the parent (a PNG bomb in a
precomputed table, a malformed protocol line) end as that task's failed record with one line, the
next task still runs, and every record names the time limit its code ran under."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from cxrbench.runner.cache import Cache
from cxrbench.runner.evaluate import RunOptions, evaluate
from cxrbench.runner.export import generation_requests
from cxrbench.submissions.bwrap import unavailable_reason
from cxrbench.tasking import get_task

TASKS = ["tiny/supplement-100", "tiny/supplement-200"]  # replica 0, replicas 0 and 1


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    """One cache for the module: the real-only baseline and the data are made once."""
    return tmp_path_factory.mktemp("hostile-cache")


def _opts(tmp_path: Path, cache_root: Path) -> RunOptions:
    return RunOptions(budget="quick", seeds=[0], out_dir=tmp_path / "runs", cache_root=cache_root,
                      unsafe_no_sandbox=unavailable_reason() is not None)


def png_bomb(side: int = 12_000) -> bytes:
    """A valid grey PNG of side x side zero pixels, compressed to about 140 KB (streamed: no pixels in memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row, parts = zlib.compressobj(9), b"\0" * (side + 1), []
    for _ in range(side):
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def _precomputed_with_bomb(root: Path, requests: pd.DataFrame, bomb_at: str) -> Path:
    (root / "images").mkdir(parents=True)
    Image.new("L", (32, 32)).save(root / "images" / "blank.png")
    (root / "images" / "bomb.png").write_bytes(png_bomb())
    table = pd.DataFrame({"request_id": requests["request_id"],
                          "img_savename": ["bomb.png" if r == bomb_at else "blank.png" for r in requests["request_id"]]})
    table.to_csv(root / "table.csv", index=False)
    (root / "submission.yaml").write_text(
        'name: bomb\nversion: "1"\nkind: generator\ntraining_data: []\n'
        "precomputed: {synthetic: images, table: table.csv}\n")
    return root


def _one_line_failure(record) -> str:
    assert record.status == "failed" and len(record.errors) == 1
    assert "\n" not in record.errors[0] and "Traceback" not in record.errors[0]
    return record.errors[0]


def test_png_bomb_in_a_precomputed_table_fails_its_task_only(tiny_tasks, tmp_path, cache_root):
    """A 12,000 x 12,000 PNG (140 KB on disk, 144 MB decoded) answering a request of replica 1: the task
    that needs replica 1 fails with one line naming the file's size; the task on replica 0 completes."""
    opts = _opts(tmp_path, cache_root)
    requests = generation_requests(get_task(TASKS[1]), "quick", Cache(cache_root))
    bomb_at = requests["request_id"].iloc[-1]  # replica 1
    assert bomb_at.endswith("#r1")
    sub = _precomputed_with_bomb(tmp_path / "bomb", requests, bomb_at)
    assert (sub / "images" / "bomb.png").stat().st_size < 200_000
    with warnings.catch_warnings():  # decoding it at all would warn (144 M px): an error here
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        out = {o.record.task.name: o.record for o in evaluate(sub, TASKS, opts)}
    assert out[TASKS[0]].status == "complete", out[TASKS[0]].errors
    message = _one_line_failure(out[TASKS[1]])
    assert "bomb.png" in message and "12000" in message


BAD_LINE = """
import os, time, numpy as np
from cxrbench.data.phantom import render

class Gen:
    def generate(self, conditions, seeds, size):
        if seeds.size and int(seeds[0]) in {replica1!r}:
            import __main__
            os.write(__main__._PROTOCOL.fileno(), {line!r} + b"\\n")
            time.sleep(60)
        return render(conditions, seeds, size)
"""


@pytest.mark.parametrize("line", [b'{"event": "shard", "name": "x", "n": ' + b"9" * 5000 + b"}",
                                  b"[" * 30_000], ids=["5000-digit-int", "deep-nesting"])
def test_malformed_protocol_line_fails_its_task_only(tiny_tasks, tmp_path, cache_root, line):
    """The generator answers replica 0 honestly and replica 1 with a line json cannot parse safely:
    one failed record with one line, the other task completes, and it records the real time limit."""
    opts = _opts(tmp_path, cache_root)
    root = tmp_path / "sub"
    root.mkdir()
    (root / "submission.yaml").write_text('name: badline\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n'
                                          'training_data: []\n')
    # replica 1's seeds: the runner never shows request ids to a generator, so recognise the replica by seed
    replica1 = set(generation_requests(get_task(TASKS[1]), "quick", Cache(cache_root)).query(
        "request_id.str.endswith('#r1')", engine="python")["seed"].tolist())
    (root / "gen.py").write_text(BAD_LINE.format(line=line, replica1=replica1))
    out = {o.record.task.name: o.record for o in evaluate(root, TASKS, opts)}
    assert out[TASKS[0]].status == "complete", out[TASKS[0]].errors
    assert "malformed worker event" in _one_line_failure(out[TASKS[1]])
    budget = get_task(TASKS[0]).budget("quick")
    for record in out.values():
        assert record.environment.isolation["timeout_s"] == budget.generator_timeout_s
