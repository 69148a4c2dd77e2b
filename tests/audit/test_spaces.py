"""audit/spaces.py: RAD-DINO and torchxrayvision feature spaces, on tiny random-weight models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny_spaces import tiny_rad_dino, tiny_xrv_densenet

from cxrbench.audit import RealImages, audit
from cxrbench.audit.spaces import load_space, space_for, space_identity
from cxrbench.errors import ConfigError
from cxrbench.schema import PATHOLOGIES

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def rad_dino(tmp_path_factory):
    return tiny_rad_dino(tmp_path_factory.mktemp("rad-dino"))


@pytest.fixture(scope="module")
def xrv_densenet(tmp_path_factory):
    pytest.importorskip("torchxrayvision")
    return tiny_xrv_densenet(tmp_path_factory.mktemp("xrv"))


def _films(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32), dtype=np.uint8)


def test_rad_dino_features_are_the_models_pooled_cls(rad_dino):
    import torch
    from transformers import AutoModel

    space = load_space("rad-dino", weights=rad_dino, profile="chexpert")
    films = _films(5)
    feats = space.extractor(films)
    assert feats.shape == (5, 32) and feats.dtype == np.float32
    assert space.classifier is None  # no pathology head: no adherence on real data
    # independently: the processor's steps by hand, then the model's pooler output
    model = AutoModel.from_pretrained(rad_dino).eval()
    x = torch.nn.functional.interpolate(torch.from_numpy(films[:, None] / 255.0).float(), size=(28, 28),
                                        mode="bicubic", antialias=True).clamp(0, 1).repeat(1, 3, 1, 1)
    with torch.no_grad():
        want = model(pixel_values=(x - 0.5307) / 0.2583).pooler_output.numpy()
    np.testing.assert_allclose(feats, want, atol=1e-5)
    info = space.info
    assert info["name"] == "rad-dino" and len(info["weights_sha256"]) == 64
    assert info["version"] == f"dinov2-32+{info['weights_sha256'][:12]}"
    assert space_identity("rad-dino", rad_dino) == {"name": "rad-dino", "weights_sha256": info["weights_sha256"]}


def test_xrv_densenet_features_and_head_under_cxrbench_names(xrv_densenet):
    import torch
    import torchxrayvision as xrv

    space = load_space("xrv-densenet", weights=xrv_densenet, profile="chexpert")
    films = _films(4)
    feats = space.extractor(films)
    # independently: torchxrayvision's own normalisation, at the weights' resolution (32 here)
    x = torch.from_numpy(xrv.datasets.normalize(films.astype(np.float32), 255)[:, None])
    with torch.no_grad():
        want = space.extractor.model.features2(x).numpy()
    np.testing.assert_allclose(feats, want, atol=1e-4)
    assert feats.shape == (4, space.extractor.model.classifier.in_features)
    probs = space.classifier.predict(films)
    assert probs.shape == (4, 18) and ((probs > 0) & (probs < 1)).all()
    names = space.classifier.label_names
    assert "Pleural Effusion" in names and "Effusion" not in names and "Infiltration" in names
    assert set(space.info["adherence_labels"]) <= set(PATHOLOGIES) and "Pleural Effusion" in space.info["adherence_labels"]
    assert space.info["version"].startswith("tiny-random+")


def test_the_report_names_its_space_and_is_keyed_by_its_weights(rad_dino):
    space = load_space("rad-dino", weights=rad_dino, profile="chexpert")
    rng = np.random.default_rng(1)
    conditions = pd.DataFrame({p: rng.integers(0, 2, 40).astype(float) for p in PATHOLOGIES})
    real = RealImages(_films(40, 2), np.array([f"p{i // 2}" for i in range(40)]), conditions)
    report = audit(_films(40, 3), conditions, real, _films(10, 4), space.extractor, space.classifier,
                   space_info=space.info)
    assert report.space == space.info and report.feature_space == f"rad-dino@{space.info['version']}"
    assert report.adherence is None and report.fidelity.space == report.feature_space


def test_missing_or_unsafe_weights_are_one_line(tmp_path, monkeypatch, rad_dino):
    monkeypatch.setenv("CXRBENCH_FEATURES_DIR", str(tmp_path / "none"))
    with pytest.raises(ConfigError, match=r"feature space 'rad-dino': no weights in .*none/rad-dino; run "
                                          r"`cxrbench features fetch rad-dino"):
        space_identity("rad-dino")
    with pytest.raises(ConfigError, match=r"pip install 'cxrbench\[xrv\]', then run `cxrbench features fetch "
                                          r"xrv-densenet"):
        space_identity("xrv-densenet")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ConfigError, match="microsoft/rad-dino is not in the local Hugging Face cache"):
        space_identity("rad-dino", "microsoft/rad-dino")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match="is a pickle; weights load from safetensors only"):
        space_identity("rad-dino", pickled)


def test_space_choice_per_profile():
    assert space_for("phantom", None) == "phantom" and space_for("phantom", "rad-dino") == "rad-dino"
    with pytest.raises(ConfigError, match="no default audit feature space for profile 'nih': pass --features"):
        space_for("nih", None)
    with pytest.raises(ConfigError, match="the phantom feature space knows only phantom films"):
        space_for("chexpert", "phantom")
    with pytest.raises(ConfigError, match="unknown feature space 'inception'"):
        space_for("phantom", "inception")
