"""Data pipeline: images/s a training loader gets from the ImageStore vs decoding JPEGs each time.

JPEGs are written once at the CheXpert-small resolution (512 images, 320 x 390) and at the
full-size CheXpert resolution (32 images, 2320 x 2828). The loader reads every image once per
epoch in shuffled batches of 64 and scales them to float32 in [-1, 1] (what the classifier
consumes), either from the store's memory-mapped uint8 file (timed by pytest-benchmark) or by
decoding + resizing the JPEGs (the baseline, timed in the same run, same data, same batches).
The ratio goes into extra_info; the cached pixels must equal the decoded ones. A second
benchmark times the one-time build of the store (threaded decode + atomic write).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxrbench.data.image_store import ImageStore
from cxrbench.data.sources.base import Source

SIZE, BATCH = 128, 64
#: name → (height, width, number of images)
RESOLUTIONS = {"chexpert-small": (390, 320, 512), "chexpert-full": (2828, 2320, 32)}


class JpegFolder(Source):
    """A folder of JPEGs as a Source (what CheXpert/MIMIC/CSV sources reduce to for pixels)."""

    def __init__(self, folder, n_images: int, name: str):
        self.folder, self.n_images, self.name = folder, n_images, name

    def rows(self, frontal_only=True):
        return pd.DataFrame({"image_id": [f"img{i:04d}.jpg" for i in range(self.n_images)]})

    def image_path(self, row):
        return self.folder / row["image_id"]


@pytest.fixture(scope="module", params=[pytest.param(r, marks=pytest.mark.scale) if r == "chexpert-full" else r
                                        for r in RESOLUTIONS])  # full-size JPEGs: `make bench-scale`
def source(request, tmp_path_factory):
    height, width, n_images = RESOLUTIONS[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None] * 400
    for i in range(n_images):
        body = 120 + 80 * np.cos((xx - 160) / (60 + i % 40)) * np.exp(-((yy - 200) / 180.0) ** 2)
        pixels = np.clip(body + rng.normal(0, 12, body.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:04d}.jpg", quality=90)
    return JpegFolder(folder, n_images, f"perf-{request.param}")


def epoch(load, n: int, seed: int = 0) -> float:
    """One shuffled pass in batches; returns a checksum so the work cannot be skipped."""
    order = np.random.default_rng(seed).permutation(n)
    total = 0.0
    for start in range(0, n, BATCH):
        batch = load(np.sort(order[start:start + BATCH]))
        total += float((batch.astype(np.float32) / 127.5 - 1.0).sum())
    return total


def test_loader_from_store_vs_decoding_jpegs(benchmark, source, tmp_path):
    rows = source.rows()
    n = source.n_images
    cached = ImageStore(tmp_path / "store").get(source, rows, SIZE)
    pixels = cached.pixels

    def from_store(idx):
        return pixels[idx]

    def from_jpegs(idx):
        return source.load_batch(rows.iloc[idx], SIZE)

    np.testing.assert_array_equal(from_store(np.arange(8)), from_jpegs(np.arange(8)))
    ours = benchmark.pedantic(epoch, args=(from_store, n), rounds=5, iterations=1, warmup_rounds=1)
    baseline_times = []
    for _ in range(2):  # min over rounds on both sides: the machine is shared
        start = time.perf_counter()
        theirs = epoch(from_jpegs, n)
        baseline_times.append(time.perf_counter() - start)
    assert ours == pytest.approx(theirs, rel=1e-6)
    store_s, baseline_s = benchmark.stats.stats.min, min(baseline_times)
    benchmark.extra_info.update(
        images=n, size=SIZE, batch=BATCH, baseline="decode + resize the JPEGs each epoch (PIL, DCT-scaled)",
        store_images_per_s=round(n / store_s), baseline_images_per_s=round(n / baseline_s),
        speedup_vs_baseline=round(baseline_s / store_s, 1))
    print(f"\n{source.name}: loader {n} images @ {SIZE}px: store {n / store_s:,.0f} img/s, "
          f"decoding JPEGs {n / baseline_s:,.0f} img/s, speed-up x{baseline_s / store_s:.1f}")
    assert baseline_s / store_s > 5  # the point of the store; a regression below this fails


def test_store_build_once(benchmark, source, tmp_path):
    rows = source.rows()
    counter = iter(range(10**6))

    def build():
        # a fresh folder per round so every round decodes everything
        return ImageStore(tmp_path / f"s{next(counter)}").get(source, rows, SIZE)

    result = benchmark.pedantic(build, rounds=3, iterations=1, warmup_rounds=0)
    assert result.pixels.shape == (source.n_images, SIZE, SIZE)
    benchmark.extra_info.update(images=source.n_images, size=SIZE,
                                build_images_per_s=round(source.n_images / benchmark.stats.stats.min))
