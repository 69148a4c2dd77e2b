import os

import numpy as np
import pandas as pd
import pytest

from cxrbench.data.image_store import ImageStore
from cxrbench.data.sources.base import Source
from cxrbench.data.sources.chexpert import CheXpertSource
from cxrbench.errors import ConfigError, DataError


class CountingSource(CheXpertSource):
    """Counts how often an image is decoded."""

    def __init__(self, root):
        super().__init__(root)
        self.decoded = 0

    def load_image(self, row, size):
        self.decoded += 1
        return super().load_image(row, size)


def _files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_pixels_equal_direct_decoding_and_are_decoded_once(tmp_path, chexpert_root):
    source = CountingSource(chexpert_root)
    rows = source.rows()
    store = ImageStore(tmp_path / "store", workers=2)
    first = store.get(source, rows, 64)
    assert isinstance(first.pixels, np.memmap) and first.pixels.shape == (len(rows), 64, 64)
    assert list(first.image_ids) == rows["image_id"].tolist()
    np.testing.assert_array_equal(np.asarray(first.pixels), Source.load_batch(source, rows, 64))
    assert source.decoded == 2 * len(rows)  # once by the store, once by the direct check above
    again = store.get(source, rows, 64)
    subset = store.get(source, rows.iloc[::-2], 64)  # another order and subset: copied, not decoded
    assert source.decoded == 2 * len(rows)
    np.testing.assert_array_equal(np.asarray(again.pixels), np.asarray(first.pixels))
    np.testing.assert_array_equal(np.asarray(subset.pixels), np.asarray(first.pixels)[::-2])
    store.get(source, rows, 32)  # another size is another cache entry
    assert source.decoded == 3 * len(rows)
    assert not [f for f in _files(tmp_path / "store") if f.endswith(".tmp")]


def test_corrupt_and_missing_images_raise_or_skip_never_zero_fill(tmp_path, chexpert_root):
    source = CheXpertSource(chexpert_root)
    rows = source.rows()
    corrupt, missing = rows.iloc[2], rows.iloc[5]
    source.image_path(corrupt).write_bytes(b"\xff\xd8\xff garbage")
    os.unlink(source.image_path(missing))
    store = ImageStore(tmp_path / "store")
    with pytest.raises(DataError, match=str(source.image_path(corrupt)).replace(".", r"\.") + ": corrupt"):
        store.get(source, rows, 64)
    assert _files(tmp_path / "store") == []  # nothing half-written stays
    result = store.get(source, rows, 64, on_error="skip")
    assert len(result) == len(rows) - 2 == result.pixels.shape[0]
    assert {s.image_id for s in result.skipped} == {corrupt["image_id"], missing["image_id"]}
    assert any("image file not found" in s.reason and s.path == str(source.image_path(missing)) for s in result.skipped)
    kept = rows[~rows["image_id"].isin([corrupt["image_id"], missing["image_id"]])]
    np.testing.assert_array_equal(np.asarray(result.pixels), Source.load_batch(source, kept, 64))
    # the cached entry reports its skips again, and still refuses under on_error="raise"
    assert len(store.get(source, rows, 64, on_error="skip").skipped) == 2
    with pytest.raises(DataError, match="corrupt"):
        store.get(source, rows, 64)


def test_an_interrupted_write_is_never_read(tmp_path, chexpert_root, monkeypatch):
    source = CheXpertSource(chexpert_root)
    rows = source.rows().head(4)
    store = ImageStore(tmp_path / "store")
    calls = {"n": 0}
    original = CheXpertSource.load_image

    def flaky(self, row, size):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of decoding
        return original(self, row, size)

    monkeypatch.setattr(CheXpertSource, "load_image", flaky)
    with pytest.raises(KeyboardInterrupt):
        ImageStore(tmp_path / "store", workers=1).get(source, rows, 64)
    assert _files(tmp_path / "store") == []
    monkeypatch.setattr(CheXpertSource, "load_image", original)
    # a stray data file without its JSON (a crash between the two renames) is ignored and rebuilt
    result = store.get(source, rows, 64)
    data = result.path
    meta = data.with_suffix(".json")
    meta.unlink()
    data.write_bytes(b"\x00" * 10)
    rebuilt = store.get(source, rows, 64)
    np.testing.assert_array_equal(np.asarray(rebuilt.pixels), Source.load_batch(source, rows, 64))


def test_arguments_are_checked(tmp_path, chexpert_root):
    source = CheXpertSource(chexpert_root)
    rows = source.rows()
    store = ImageStore(tmp_path)
    with pytest.raises(ConfigError, match="32–512"):
        store.get(source, rows, 600)
    with pytest.raises(ConfigError, match="on_error"):
        store.get(source, rows, 64, on_error="zero")
    with pytest.raises(DataError, match="requested twice"):
        store.get(source, pd.concat([rows.head(2), rows.head(1)]), 64)


def test_a_vectorised_source_is_called_per_chunk(tmp_path):
    class Flat(Source):
        name = "flat"
        batches = 0

        def rows(self, frontal_only=True):
            return pd.DataFrame({"image_id": [f"i{k}" for k in range(5)]})

        def load_batch(self, rows, size):
            Flat.batches += 1
            return np.stack([np.full((size, size), int(i[1:]), np.uint8) for i in rows["image_id"]])

    source = Flat()
    result = ImageStore(tmp_path).get(source, source.rows(), 32)
    assert Flat.batches == 1
    assert [int(p[0, 0]) for p in result.pixels] == [0, 1, 2, 3, 4]


def test_empty_requests_and_unreadable_index_files(tmp_path, chexpert_root):
    source = CheXpertSource(chexpert_root)
    store = ImageStore(tmp_path)
    for _ in range(2):  # built, then read back from the cache
        empty = store.get(source, source.rows().head(0), 32)
        assert empty.pixels.shape == (0, 32, 32) and len(empty) == 0
    rows = source.rows().head(3)
    first = store.get(source, rows, 32)
    first.path.with_suffix(".json").write_text("{not json")
    again = store.get(source, rows, 32)
    np.testing.assert_array_equal(np.asarray(again.pixels), np.asarray(first.pixels))
