"""Backbones through timm, always with a 1-channel stem and never a download.

`cxr_small` / `cxr_tiny` are fixed, pinned timm ByobNet configs (not one of timm's `test_*` models, whose
definitions may change between timm releases) sized to train in seconds at 32-64 px on a CPU.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from cxrbench.errors import ConfigError

#: Recipe backbone name -> timm model name (cxr_small is built here from timm parts).
BACKBONES: dict[str, str] = {
    "convnext_base": "convnext_base",
    "densenet121": "densenet121",
    "resnet50": "resnet50",
    "cxr_small": "cxr_small",
    "cxr_tiny": "cxr_tiny",
}

#: Stage widths of the pinned small CNNs (basic blocks, strides 1, 2, 2, 2 after a stride-2 stem).
SMALL_WIDTHS: dict[str, tuple[int, ...]] = {"cxr_small": (32, 64, 128, 256), "cxr_tiny": (16, 32, 64, 128)}


def _small_cnn(name: str, num_classes: int, drop_rate: float) -> nn.Module:
    from timm.models.byobnet import ByoBlockCfg, ByobNet, ByoModelCfg

    # 3x3 stride-2 stem, four basic-block stages: 32 px -> 16 -> 16 -> 8 -> 4 -> 2, then pooled.
    widths = SMALL_WIDTHS[name]
    cfg = ByoModelCfg(
        blocks=tuple(ByoBlockCfg(type="basic", d=1, c=c, s=1 if i == 0 else 2, br=1.0)
                     for i, c in enumerate(widths)),
        stem_chs=max(16, widths[0] * 3 // 4), stem_type="", stem_pool="", downsample="avg",
        act_layer="relu",
    )
    return ByobNet(cfg, num_classes=num_classes, in_chans=1, drop_rate=drop_rate)


def create_backbone(name: str, num_classes: int, *, pretrained: str | None = None,
                    drop_rate: float = 0.0) -> nn.Module:
    """A timm model with `in_chans=1` and `num_classes` logits.

    `pretrained`: None (from scratch), a local `.safetensors` file (RGB stems are summed to one
    channel, a classifier head of another size is dropped), or `"timm-cache"` (timm's weights
    only if already in the local Hugging Face cache; offline, never downloaded).
    """
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    import timm

    if name in SMALL_WIDTHS:
        model = _small_cnn(name, num_classes, drop_rate)
    else:
        model = timm.create_model(BACKBONES[name], pretrained=False, in_chans=1,
                                  num_classes=num_classes, drop_rate=drop_rate)
    if pretrained == "timm-cache":
        if name in SMALL_WIDTHS:
            raise ConfigError(f"backbone {name!r} has no timm weights; use a local .safetensors file")
        load_local_weights(model, cached_timm_weights(name))
    elif pretrained is not None:
        load_local_weights(model, Path(pretrained))
    return model


def cached_timm_weights(name: str) -> Path:
    """The safetensors file of timm's default weights for `name` if already in the local HF cache.

    Only the cache is looked at (huggingface_hub.try_to_load_from_cache); nothing is downloaded.
    """
    import timm
    from huggingface_hub import try_to_load_from_cache

    repo = timm.models.get_pretrained_cfg(BACKBONES[name]).hf_hub_id
    found = try_to_load_from_cache(repo, "model.safetensors") if repo else None
    if not isinstance(found, str):
        raise ConfigError(
            f"pretrained='timm-cache': no cached timm weights for {name!r} ({repo}/model.safetensors "
            "is not in the local Hugging Face cache); place a .safetensors file locally and pass its path"
        )
    return Path(found)


def load_local_weights(model: nn.Module, path: Path) -> None:
    """Load a local safetensors state dict into `model` (adapting an RGB stem, skipping the head)."""
    from safetensors.torch import load_file
    from timm.models import adapt_input_conv

    if path.suffix != ".safetensors" or not path.is_file():
        raise ConfigError(f"pretrained weights {str(path)!r}: expected an existing .safetensors file")
    state = load_file(str(path))
    own = model.state_dict()
    loaded = {}
    for key, tensor in state.items():
        if key not in own:
            continue
        if tensor.ndim == 4 and own[key].ndim == 4 and tensor.shape[1] != own[key].shape[1]:
            tensor = adapt_input_conv(own[key].shape[1], tensor)
        if tensor.shape == own[key].shape:
            loaded[key] = tensor
    classifier = model.get_classifier()
    head = {f"{prefix}.{param}" for prefix, module in model.named_modules() if module is classifier
            for param, _ in module.named_parameters()}
    missing = [k for k in own if k not in loaded and k not in head and not k.endswith("num_batches_tracked")]
    if not loaded or missing:
        raise ConfigError(
            f"pretrained weights {str(path)!r} do not fit backbone {type(model).__name__}: "
            f"{len(loaded)} tensors matched, {len(missing)} missing (e.g. {missing[:3]})"
        )
    model.load_state_dict(loaded, strict=False)
