"""`cxrbench cache du` says what a cache holds; `cxrbench cache gc --keep-published` keeps the
entries behind published records, removes the rest, and never touches a live builder's work."""

import json
import os

from typer.testing import CliRunner

from cxrbench.cli import app
from cxrbench.runner.cache import Cache
from cxrbench.runner.cache_usage import record_entries, usage
from cxrbench.runner.lease import owner_identity


def _entry(cache: Cache, stage: str, char: str, size: int) -> str:
    key = char * 64
    with cache.building(stage, key) as tmp:
        (tmp / "blob").write_bytes(os.urandom(size))
    return key


class _Record:  # what record_entries reads of a ResultRecord
    def __init__(self, key, content, predictions=None):
        self.key, self.content_sha256, self.predictions_sha256 = key, content, predictions


def _cache(tmp_path):
    cache = Cache(tmp_path / "cache")
    published = _entry(cache, "classifier-run", "a", 50_000)
    other = _entry(cache, "classifier-run", "b", 70_000)
    replica = _entry(cache, "synthetic", "c", 30_000)
    (cache.root / "features").mkdir()
    (cache.root / "features" / "f.npy").write_bytes(b"x" * 10_000)
    (cache.root / "images").mkdir()
    (cache.root / "images" / "px.u8").write_bytes(b"x" * 5_000)
    record_entries(cache.root, _Record("t@1::s@1", "f" * 64, "e" * 64), [("classifier-run", published),
                                                                          ("synthetic", replica)])
    return cache, published, other, replica


def test_du_counts_entries_and_leftovers_per_folder(tmp_path):
    cache, *_ = _cache(tmp_path)
    (cache.root / "classifier-run" / "bb" / ".bbbb.1234.tmp").mkdir()
    areas = {a.name: a for a in usage(cache.root)}
    assert areas["classifier-run"].entries == 2 and areas["classifier-run"].bytes >= 120_000
    assert areas["classifier-run"].leftovers == 1 and areas["synthetic"].entries == 1
    result = CliRunner().invoke(app, ["cache", "du", "--cache", str(cache.root)])
    assert result.exit_code == 0, result.output
    assert "classifier-run" in result.output and "free on its filesystem" in result.output


def test_gc_keep_published_keeps_what_published_records_were_made_from(tmp_path):
    cache, published, other, replica = _cache(tmp_path)
    store = tmp_path / "published"
    store.mkdir()
    # the published copy of the record: re-sealed (another content digest), same predictions
    (store / "r.json").write_text(json.dumps({"content_sha256": "0" * 64, "predictions_sha256": "e" * 64}))
    result = CliRunner().invoke(app, ["cache", "gc", "--keep-published", "--records", str(store),
                                      "--cache", str(cache.root)])
    assert result.exit_code == 0, result.output
    assert cache.has("classifier-run", published) and cache.has("synthetic", replica)
    assert not cache.path("classifier-run", other).exists()
    assert not (cache.root / "features").exists() and (cache.root / "images" / "px.u8").exists()
    assert "kept 2 entr(ies) behind published records" in result.output


def test_gc_never_touches_a_live_builders_work_and_removes_a_dead_ones(tmp_path):
    cache, published, other, _ = _cache(tmp_path)
    folder = cache.root / "synthetic" / "dd"
    folder.mkdir(parents=True)
    (folder / ".dddd.lease").write_text(json.dumps(owner_identity()) + "\n0\n")  # this process: alive
    (folder / ".dddd.partial").mkdir()
    dead = {**owner_identity(), "pid": 2**22 + 17}  # no such pid
    (folder / ".eeee.lease").write_text(json.dumps(dead) + "\n0\n")
    (folder / ".eeee.partial").mkdir()
    result = CliRunner().invoke(app, ["cache", "gc", "--cache", str(cache.root)])
    assert result.exit_code == 0, result.output
    assert (folder / ".dddd.lease").exists() and (folder / ".dddd.partial").exists()
    assert not (folder / ".eeee.lease").exists() and not (folder / ".eeee.partial").exists()
    assert (cache.root / "features").exists()  # a job is running: it may be reading them
    assert cache.has("classifier-run", other)  # without --keep-published, entries stay


def test_a_records_index_is_matched_by_its_content_digest(tmp_path):
    from cxrbench.runner.cache_usage import published_entries

    index = record_entries(tmp_path, _Record("t@1::s@1", "1" * 64), [("audit", "9" * 64)])
    assert json.loads(index.read_text())["entries"] == [["audit", "9" * 64]]
    (tmp_path / "r.json").write_text(json.dumps({"content_sha256": "1" * 64}))
    assert published_entries(tmp_path, [tmp_path / "r.json"]) == {("audit", "9" * 64)}
