"""Presets, weights round trip, and weights that do not match their config."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from cxrbench.baselines.ddpm.model import (
    CONFIG_FILE,
    PIPELINE_WEIGHTS,
    WEIGHTS_FILE,
    count_parameters,
    load_pretrained,
    save_pretrained,
    write_config,
)
from cxrbench.baselines.ddpm.presets import PRESETS, get_preset
from cxrbench.errors import ConfigError

from .ddpm_helpers import MICRO, random_model


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown generator preset 'huge-1024'; known: paper-256, small-64, tiny-32"):
        get_preset("huge-1024")


def test_round_trip_is_exact(tmp_path):
    model = random_model()
    save_pretrained(model, tmp_path)
    loaded = load_pretrained(tmp_path)
    assert loaded.config == MICRO
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def save_flat(model, directory):
    """The first releases' flat layout (config.json + model.safetensors), still read."""
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / WEIGHTS_FILE))
    write_config(model.config, directory)
    return directory


def test_flat_layout_still_loads_exactly(tmp_path):
    model = random_model()
    loaded = load_pretrained(save_flat(model, tmp_path))
    assert loaded.config == MICRO
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_pipeline_weights_that_do_not_match_the_config_are_refused(tmp_path):
    save_pretrained(random_model(), tmp_path)
    config = json.loads((tmp_path / "unet" / "config.json").read_text())
    config["block_out_channels"] = [8, 24]
    (tmp_path / "unet" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=f"{tmp_path}: not a loadable CxrDDPMPipeline folder: .* size mismatch for "):
        load_pretrained(tmp_path)
    (tmp_path / "unet" / PIPELINE_WEIGHTS).write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match=f"unet/{PIPELINE_WEIGHTS}: unreadable safetensors"):
        load_pretrained(tmp_path)
    save_pretrained(random_model(), tmp_path)
    (tmp_path / "condition_encoder" / PIPELINE_WEIGHTS).unlink()
    with pytest.raises(ConfigError, match=f"condition_encoder/{PIPELINE_WEIGHTS}: missing weights file"):
        load_pretrained(tmp_path)


def test_weights_that_do_not_match_the_config_are_refused(tmp_path):
    save_flat(random_model(), tmp_path)
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    config["block_out_channels"] = [8, 24]
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="weights do not match config.json.*wrong shape"):
        load_pretrained(tmp_path)


def test_missing_tensor_and_bad_config_are_named(tmp_path):
    model = random_model()
    save_flat(model, tmp_path)
    state = load_file(str(tmp_path / WEIGHTS_FILE))
    state.pop("condition_encoder.null")
    save_file(state, str(tmp_path / WEIGHTS_FILE))
    with pytest.raises(ConfigError, match="1 tensor\\(s\\) missing \\(e.g. condition_encoder.null\\)"):
        load_pretrained(tmp_path)
    (tmp_path / CONFIG_FILE).write_text('{"preset": "x"}')
    with pytest.raises(ConfigError, match="invalid generator config"):
        load_pretrained(tmp_path)
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not safetensors")
    save_pretrained_config_only = MICRO.model_dump(mode="json")
    (tmp_path / CONFIG_FILE).write_text(json.dumps(save_pretrained_config_only))
    with pytest.raises(ConfigError, match="unreadable safetensors"):
        load_pretrained(tmp_path)


def test_tiny_and_small_fit_the_shipping_limit():
    from cxrbench.baselines.ddpm.model import build_model

    for name in ("tiny-32", "small-64"):
        n = count_parameters(build_model(PRESETS[name]))
        assert n * 4 <= 25e6, (name, n)  # fp32 safetensors ≤ 25 MB


@pytest.mark.slow
def test_paper_preset_is_the_studys_size():
    from cxrbench.baselines.ddpm.model import build_model

    model = build_model(get_preset("paper-256"))
    assert 115e6 < count_parameters(model) < 125e6  # the study: ≈120 M
    blocks = [type(b).__name__ for b in model.unet.down_blocks]
    assert blocks == ["DownBlock2D"] * 3 + ["AttnDownBlock2D"] * 3  # attention at 32², 16², 8²
