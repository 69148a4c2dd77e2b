"""Pixel space, image checks and the feature cache."""

import numpy as np
import pytest

from cxrbench.audit.features import FeatureCache, FeatureExtractor, PixelExtractor, check_images, content_hash
from cxrbench.errors import DataError


def images(n=6, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)


def test_pixel_space_is_unit_norm_and_ignores_brightness_and_contrast():
    x = images()
    feats = PixelExtractor(16)(x)
    assert feats.shape == (6, 256) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, rtol=1e-5)
    brighter = (x.astype(np.float32) * 0.5 + 60).astype(np.uint8)
    np.testing.assert_allclose(PixelExtractor(16)(brighter), feats, atol=0.02)
    flat = np.full((1, 32, 32), 128, dtype=np.uint8)
    assert not PixelExtractor(16)(flat).any()


def test_pixel_extractor_is_a_feature_extractor_and_batch_independent():
    x = images(10)
    assert isinstance(PixelExtractor(), FeatureExtractor)
    np.testing.assert_array_equal(PixelExtractor(8, batch_size=3)(x), PixelExtractor(8, batch_size=100)(x))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 32, 32), np.uint8), "empty"),
    (np.zeros((2, 32, 32), np.float32), "uint8"),
    (np.zeros((2, 32), np.uint8), r"\(N, S, S\)"),
    (np.zeros((2, 32, 16), np.uint8), "square"),
    ([[0]], "numpy array"),
])
def test_bad_image_sets_are_named(bad, message):
    with pytest.raises(DataError, match=message):
        check_images(bad, "synthetic images")


def test_wrong_size_is_named():
    with pytest.raises(DataError, match="real test images: images are 32x32, expected 64x64"):
        check_images(images(), "real test images", size=64)


def test_cache_embeds_each_set_once_and_keys_by_version_and_content(tmp_path):
    x, y = images(seed=0), images(seed=1)
    cache = FeatureCache(tmp_path)
    ext = PixelExtractor(8)
    a = cache.get(ext, x)
    assert cache.get(ext, x.copy()) is a and cache.computed == 1
    cache.get(ext, y)
    assert cache.computed == 2
    ext2 = PixelExtractor(8)
    ext2.version = "2"
    cache.get(ext2, x)
    assert cache.computed == 3
    # a fresh cache on the same folder reads the stored features instead of recomputing
    fresh = FeatureCache(tmp_path)
    np.testing.assert_array_equal(fresh.get(ext, x), a)
    assert fresh.computed == 0
    assert content_hash(x) != content_hash(y)
    assert content_hash(x) != content_hash(x.reshape(6, 16, 64))


def test_cache_rejects_bad_extractor_output():
    class Broken:
        name, version = "broken", "1"

        def __call__(self, imgs):
            return np.full((imgs.shape[0] - 1, 3), 1.0, np.float32)

    with pytest.raises(DataError, match="returned shape"):
        FeatureCache().get(Broken(), images())
