"""The shipped reference feature space: versioned by its weights, verified at load, CPU-only."""

import shutil

import numpy as np
import pytest

import cxrbench.audit.reference as reference
from cxrbench.errors import ConfigError, DataError


def test_reference_extractor_is_versioned_by_its_weights():
    info = reference.provenance()
    extractor = reference.reference_extractor()
    assert extractor.name == "phantom-site-a"
    assert extractor.version == f"{info['version']}+{info['weights_sha256'][:12]}"
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32), dtype=np.uint8)
    feats = extractor(images)
    assert feats.shape == (5, 256) and feats.dtype == np.float32
    np.testing.assert_allclose(extractor(images[::-1])[::-1], feats, rtol=1e-5, atol=1e-5)


def test_corrupt_weights_are_refused(tmp_path, monkeypatch):
    shutil.copytree(reference.reference_dir(), tmp_path / "phantom-site-a")
    weights = tmp_path / "phantom-site-a" / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    monkeypatch.setattr(reference, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(DataError, match="does not match provenance"):
        reference.reference_classifier()


def test_unknown_profile_is_a_config_error():
    with pytest.raises(ConfigError, match="no reference audit feature space"):
        reference.reference_extractor("chexpert")
