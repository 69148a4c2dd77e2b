"""The cache's checksums: a corrupt, truncated, extended or unmanifested entry is reported and rebuilt."""

import json

import numpy as np
import pandas as pd
import pytest

from cxrbench.runner.cache import CHECKSUMS, Cache


def _entry(cache: Cache, key="k" * 64):
    with cache.building("stage", key) as tmp:
        np.save(tmp / "images.npy", np.arange(4096, dtype=np.uint8).reshape(64, 64))
        pd.DataFrame({"image_id": ["a", "b"], "p": [0.1, 0.9]}).to_parquet(tmp / "probs.parquet")
        (tmp / "model").mkdir()
        (tmp / "model" / "weights.bin").write_bytes(b"w" * 100)
    return cache.path("stage", key)


def _flip(path, offset=-20):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_intact_entry_is_used(tmp_path):
    cache = Cache(tmp_path)
    entry = _entry(cache)
    manifest = json.loads((entry / CHECKSUMS).read_text())["files"]
    assert set(manifest) == {"images.npy", "probs.parquet", "model/weights.bin"}
    assert Cache(tmp_path).has("stage", "k" * 64)


@pytest.mark.parametrize("damage, problem", [
    (lambda e: _flip(e / "probs.parquet"), "probs.parquet: sha256 does not match"),
    (lambda e: _flip(e / "model" / "weights.bin", 3), "model/weights.bin: sha256"),
    (lambda e: (e / "images.npy").write_bytes((e / "images.npy").read_bytes()[:1000]), "images.npy: 1000 bytes"),
    (lambda e: (e / "planted.parquet").write_bytes(b"x"), "planted.parquet: a file that is not in its checksums"),
    (lambda e: (e / "probs.parquet").unlink(), "probs.parquet: missing"),
    (lambda e: (e / CHECKSUMS).unlink(), f"no {CHECKSUMS}"),
    (lambda e: (e / CHECKSUMS).write_text("{not json"), f"unreadable {CHECKSUMS}"),
])
def test_damaged_entry_is_reported_and_rebuilt(tmp_path, damage, problem):
    entry = _entry(Cache(tmp_path))
    damage(entry)
    seen = []
    cache = Cache(tmp_path, report=seen.append)
    assert not cache.has("stage", "k" * 64)
    assert len(seen) == 1 and str(entry) in seen[0] and problem in seen[0] and "rebuilding" in seen[0]
    assert not entry.exists()  # moved aside, never read again
    rebuilt = _entry(cache)
    assert Cache(tmp_path, report=seen.append).has("stage", "k" * 64) and rebuilt == entry and len(seen) == 1
