"""PhantomSource: canonical rows, ids, vectorised load_batch, the Source registry."""

from __future__ import annotations

import numpy as np
import pytest

from cxrbench.data.phantom import PhantomSource, render
from cxrbench.data.phantom.render import CONDITION_COLUMNS
from cxrbench.data.sources import get_source
from cxrbench.errors import ConfigError, DataError
from cxrbench.schema import CANONICAL_COLUMNS, validate_canonical


@pytest.fixture(scope="module")
def source():
    return PhantomSource("site-b", n_patients=60, seed=3)


def test_rows_are_canonical(source):
    rows = source.rows()
    assert list(rows.columns) == list(CANONICAL_COLUMNS)
    validate_canonical(rows)
    assert rows["image_id"].str.fullmatch(r"phantom/site-b/p\d{6}/s\d{2}").all()
    assert (rows["patient_id"] == rows["image_id"].str[:-4]).all()
    assert rows["view"].isin(["AP", "PA"]).all() and (rows["source"] == "phantom").all()
    assert rows["patient_id"].nunique() == 60 and len(rows) > 60
    assert source.rows(frontal_only=False).equals(rows)


def test_load_batch_is_render_with_patient_anatomy(source):
    rows = source.rows().iloc[:20]
    images = source.load_batch(rows, 64)
    assert images.shape == (20, 64, 64) and images.dtype == np.uint8
    seeds, anatomy = source.seeds(rows)
    assert np.array_equal(images, render(rows[list(CONDITION_COLUMNS)], seeds, 64, anatomy_seeds=anatomy))
    # any order / subset gives the same pixels per image
    assert np.array_equal(source.load_batch(rows.iloc[::-3], 64), images[::-3])
    assert np.array_equal(source.load_image(rows.iloc[4], 64), images[4])
    assert source.load_pixels(rows.iloc[0]).shape == (256, 256)
    # one body per patient: films of one patient share anatomy seeds, patients differ
    first = rows.groupby("patient_id").head(1).index
    assert len(set(anatomy[first])) == len(first)
    same = rows.groupby("patient_id")["image_id"].transform("size") > 1
    pid = rows.loc[same, "patient_id"].iloc[0]
    assert len(set(anatomy[(rows["patient_id"] == pid).to_numpy()])) == 1


def test_rows_are_reproducible_and_seed_dependent(source):
    assert PhantomSource("site-b", n_patients=60, seed=3).rows().equals(source.rows())
    assert not PhantomSource("site-b", n_patients=60, seed=4).rows().equals(source.rows())
    assert source.cache_namespace != PhantomSource("site-b", n_patients=60, seed=4).cache_namespace
    assert source.cache_namespace != PhantomSource("site-c", n_patients=60, seed=3).cache_namespace


def test_foreign_image_ids_are_rejected(source):
    other = PhantomSource("site-a", n_patients=3, seed=3).rows()
    with pytest.raises(DataError, match="phantom/site-a/p000000/s01"):
        source.load_batch(other, 32)


def test_registry_and_bad_arguments():
    src = get_source("phantom", site="site-c", n_patients=5, seed=1)
    assert isinstance(src, PhantomSource) and src.site == "site-c"
    with pytest.raises(ConfigError, match="n_patients"):
        PhantomSource(n_patients=0)
    with pytest.raises(ConfigError, match="size"):
        src.load_batch(src.rows(), 1024)
