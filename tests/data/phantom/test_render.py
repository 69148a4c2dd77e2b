"""render(): shape, determinism per (seed, row, size), batch independence, bad input."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from cxrbench.data.phantom import SITES, render, sample_conditions
from cxrbench.errors import ConfigError, SchemaError

from .conftest import condition_rows


@pytest.fixture(scope="module")
def conditions() -> pd.DataFrame:
    rows = [sample_conditions(12, site=site, seed=3) for site in SITES]
    return pd.concat(rows, ignore_index=True)


def test_shape_dtype_and_range(conditions):
    for size in (32, 64, 97, 256):
        images = render(conditions.iloc[:5], np.arange(5, dtype=np.int64), size)
        assert images.shape == (5, size, size) and images.dtype == np.uint8
        assert images.std() > 20  # a radiograph, not a flat field


def test_deterministic_and_independent_of_batch(conditions):
    seeds = np.arange(100, 100 + len(conditions), dtype=np.int64)
    full = render(conditions, seeds, 64)
    assert np.array_equal(full, render(conditions, seeds, 64))
    # any subset, in any order, gives the same image for the same (seed, row)
    order = np.random.default_rng(0).permutation(len(conditions))[:17]
    part = render(conditions.iloc[order].reset_index(drop=True), seeds[order], 64)
    assert np.array_equal(part, full[order])
    single = render(conditions.iloc[[5]].reset_index(drop=True), seeds[[5]], 64)
    assert np.array_equal(single[0], full[5])


def test_seed_changes_image_and_anatomy_seed_fixes_body():
    rows = condition_rows(2)
    a = render(rows, np.array([1, 2]), 64).astype(int)
    assert np.abs(a[0] - a[1]).mean() > 3
    # same anatomy seed, different image seeds: same body, only noise/exposure/findings differ
    b = render(rows, np.array([1, 2]), 64, anatomy_seeds=np.array([9, 9])).astype(int)
    c = render(rows, np.array([1, 2]), 64, anatomy_seeds=np.array([9, 10])).astype(int)
    assert np.abs(b[0] - b[1]).mean() < np.abs(c[0] - c[1]).mean()


def test_chunking_does_not_change_images(monkeypatch, conditions):
    module = importlib.import_module("cxrbench.data.phantom.render")  # the module, not the function

    seeds = np.arange(len(conditions), dtype=np.int64)
    whole = render(conditions, seeds, 32)
    monkeypatch.setattr(module, "CHUNK_PIXELS", 32 * 32 * 5)  # chunks of 5 images
    assert np.array_equal(render(conditions, seeds, 32), whole)


def test_label_toggle_keeps_anatomy():
    """Rows differing in one label differ only where that finding is drawn."""
    base = render(condition_rows(1), np.array([4]), 64).astype(int)
    same = render(condition_rows(1, {"Edema": 0.0, "Fracture": np.nan}), np.array([4]), 64).astype(int)
    assert np.array_equal(base, same)  # 0 and blank both mean: not drawn


@pytest.mark.parametrize("size", [31, 513, 0, 64.0, "64", True])
def test_bad_size(size):
    with pytest.raises(ConfigError, match="size"):
        render(condition_rows(1), np.array([0]), size)


def test_missing_column_is_named():
    with pytest.raises(SchemaError, match="Cardiomegaly"):
        render(condition_rows(1).drop(columns=["Cardiomegaly"]), np.array([0]), 32)
    with pytest.raises(SchemaError, match="site"):
        render(condition_rows(1).drop(columns=["site"]), np.array([0]), 32)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("Edema", 2.0, "'Edema' row 1"),
        ("Edema", "yes", "'Edema' row 1"),
        ("age", -3.0, "'age' row 1"),
        ("age", np.nan, "'age' row 1"),
        ("age", 150.0, "'age' row 1"),
        ("sex", "X", "'sex' row 1"),
        ("race", "Martian", "'race' row 1"),
        ("view", "LATERAL", "'view' row 1"),
        ("site", "site-z", "'site' row 1.*site-a"),
    ],
)
def test_out_of_range_values_are_named(field, value, message):
    rows = condition_rows(3)
    rows[field] = rows[field].astype(object)
    rows.loc[1, field] = value
    with pytest.raises(SchemaError, match=message):
        render(rows, np.arange(3), 32)


def test_bad_seeds_and_conspicuity():
    with pytest.raises(ConfigError, match="seeds"):
        render(condition_rows(3), np.arange(2), 32)
    with pytest.raises(ConfigError, match="seeds"):
        render(condition_rows(2), np.array([0.5, 1.5]), 32)
    with pytest.raises(ConfigError, match="conspicuity"):
        render(condition_rows(2), np.arange(2), 32, conspicuity=-1)
    with pytest.raises(SchemaError, match="DataFrame"):
        render([{"age": 3}], np.arange(1), 32)


def test_unknown_sex_and_view_are_drawn_from_the_seed():
    rows = condition_rows(4, sex="U", view="UNKNOWN")
    a = render(rows, np.arange(4), 32)
    assert np.array_equal(a, render(rows, np.arange(4), 32))


def test_empty_batch():
    out = render(condition_rows(0), np.zeros(0, dtype=np.int64), 32)
    assert out.shape == (0, 32, 32)


def test_nullable_and_arrow_dtypes_are_accepted(conditions):
    seeds = np.arange(6, dtype=np.int64)
    plain = render(conditions.iloc[:6].reset_index(drop=True), seeds, 32)
    nullable = conditions.iloc[:6].reset_index(drop=True).convert_dtypes()  # Float64 with <NA>, string
    assert np.array_equal(render(nullable, seeds, 32), plain)
