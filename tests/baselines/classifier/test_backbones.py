import pytest
import torch
from safetensors.torch import save_file

from cxrbench.baselines.classifier import BACKBONES, create_backbone
from cxrbench.errors import ConfigError


@pytest.mark.parametrize("name", ["cxr_small", "cxr_tiny", "resnet50", "densenet121"])
def test_one_channel_stem_and_label_heads(name):
    model = create_backbone(name, 5).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 1, 64, 64))
    assert out.shape == (2, 5)
    assert model.num_features > 0


@pytest.mark.slow
def test_convnext_base_builds_with_one_channel():
    model = create_backbone("convnext_base", 14).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 64, 64)).shape == (1, 14)


def test_known_backbones():
    assert set(BACKBONES) == {"convnext_base", "densenet121", "resnet50", "cxr_small", "cxr_tiny"}
    with pytest.raises(ConfigError, match="unknown backbone"):
        create_backbone("alexnet", 3)


def test_local_safetensors_weights_adapt_rgb_stem_and_skip_head(tmp_path):
    torch.manual_seed(0)
    import timm

    rgb = timm.create_model("resnet50", pretrained=False, in_chans=3, num_classes=1000)
    path = tmp_path / "resnet50.safetensors"
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(path))
    model = create_backbone("resnet50", 4, pretrained=str(path))
    assert torch.allclose(model.conv1.weight, rgb.conv1.weight.sum(1, keepdim=True))
    assert torch.equal(model.layer1[0].conv1.weight, rgb.layer1[0].conv1.weight)
    assert model.fc.weight.shape == (4, 2048)


def test_weights_for_another_backbone_are_refused(tmp_path):
    other = create_backbone("cxr_small", 4)
    path = tmp_path / "small.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(path))
    with pytest.raises(ConfigError, match="do not fit"):
        create_backbone("resnet50", 4, pretrained=str(path))
    with pytest.raises(ConfigError, match="existing .safetensors"):
        create_backbone("resnet50", 4, pretrained=str(tmp_path / "missing.pth"))


def test_timm_cache_reads_only_the_local_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match="no cached timm weights for 'resnet50'"):
        create_backbone("resnet50", 4, pretrained="timm-cache")
    # A cache entry laid out as huggingface_hub writes it is found and loaded.
    import timm

    rgb = timm.create_model("resnet50", pretrained=False, in_chans=3)
    repo = tmp_path / "models--timm--resnet50.a1_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(repo / "snapshots" / "abc123" / "model.safetensors"))
    model = create_backbone("resnet50", 4, pretrained="timm-cache")
    assert torch.allclose(model.conv1.weight, rgb.conv1.weight.sum(1, keepdim=True))
    with pytest.raises(ConfigError, match="cxr_small' has no timm weights"):
        create_backbone("cxr_small", 4, pretrained="timm-cache")
