"""Tiny random-weight models of the real feature spaces' own classes, built offline (no download)."""

from __future__ import annotations

from pathlib import Path


def tiny_rad_dino(folder: Path) -> Path:
    """A 2-layer DINOv2 (transformers' Dinov2Model, RAD-DINO's class) with a BitImageProcessor, saved as
    `save_pretrained` writes RAD-DINO (safetensors)."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          image_size=28, patch_size=14)
    Dinov2Model(config).save_pretrained(folder, safe_serialization=True)
    # RAD-DINO's processor: shortest edge + centre crop, one grey mean / std repeated over RGB
    BitImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28},
                      image_mean=[0.5307] * 3, image_std=[0.2583] * 3).save_pretrained(folder)
    return folder


def tiny_xrv_densenet(folder: Path) -> Path:
    """torchxrayvision's DenseNet, tiny (growth 4, one layer per block), with the 18 outputs of its
    `densenet121-res224-all` weights, saved as `cxrbench features fetch xrv-densenet` saves them."""
    import torch
    import torchxrayvision as xrv

    from cxrbench.audit.xrv_densenet import save_folder

    torch.manual_seed(0)
    labels = list(xrv.models.model_urls["densenet121-res224-all"]["labels"])
    shape = dict(growth_rate=4, block_config=(1, 1, 1, 1), num_init_features=8)
    model = xrv.models.DenseNet(num_classes=len(labels), **shape)
    return save_folder(model, folder, weights="tiny-random", labels=labels, resolution=32, **shape)
