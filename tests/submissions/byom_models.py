"""Tiny random-weight models for the zero-code submission tests, built here from small local
configs (nothing is downloaded): diffusers pipelines saved with save_pretrained, and a timm
checkpoint. Each writes a complete submission folder."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from cxrbench.schema import LABEL_SETS

FIVE = list(LABEL_SETS["competition5"])


def _perturb(*modules, seed: int = 0) -> None:
    """Random init leaves some layers at zero (outputs would be flat); nudge every weight."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in modules:
            for p in m.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.05)


def pixel_unet(**kw):
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    args = dict(sample_size=16, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
                down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                norm_num_groups=4, attention_head_dim=8)
    unet = UNet2DModel(**(args | kw))
    _perturb(unet)
    return unet


def ddpm_pipeline(folder: Path, **unet_kw) -> Path:
    """A `DDPMPipeline` (unconditional, or class-conditional with `num_class_embeds=`)."""
    from diffusers import DDPMPipeline, DDPMScheduler

    pipe = DDPMPipeline(unet=pixel_unet(**unet_kw), scheduler=DDPMScheduler(num_train_timesteps=100))
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def multi_hot_pipeline(folder: Path, n_labels: int) -> Path:
    """A pixel-space `UNet2DConditionModel` without cross-attention whose class embedding projects a
    multi-hot vector (saved as a DDPMPipeline)."""
    from diffusers import DDIMScheduler, DDPMPipeline, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
        mid_block_type=None, norm_num_groups=4, cross_attention_dim=8, class_embed_type="projection",
        projection_class_embeddings_input_dim=n_labels)
    _perturb(unet)
    DDPMPipeline(unet=unet, scheduler=DDIMScheduler(num_train_timesteps=100)).save_pretrained(folder)
    return folder


def _byte_vocab(folder: Path) -> tuple[Path, Path]:
    """A character-level CLIP BPE vocabulary (no merges): every text tokenizes, one token per byte."""
    # GPT-2's byte → printable character table, which CLIP's BPE uses
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    extra = [b for b in range(256) if b not in printable]
    chars = [chr(b) for b in printable] + [chr(256 + i) for i in range(len(extra))]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder / "vocab.json", folder / "merges.txt"


def stable_diffusion_pipeline(folder: Path, scratch: Path) -> Path:
    """A tiny `StableDiffusionPipeline`: UNet2DConditionModel, AutoencoderKL, CLIP text encoder and
    tokenizer, all from small configs (no safety checker)."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab, merges = _byte_vocab(scratch / "vocab")
    tokenizer = CLIPTokenizer(str(vocab), str(merges), model_max_length=77)
    torch.manual_seed(0)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
                                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                        pad_token_id=tokenizer.pad_token_id))
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
                                layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=4, norm_num_groups=4)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), block_out_channels=(8, 16),
                        latent_channels=4, norm_num_groups=4, sample_size=16)
    _perturb(text, unet, vae)
    scheduler = DDIMScheduler(num_train_timesteps=100, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def timm_checkpoint(path: Path, labels=FIVE, channels: int = 1, arch: str = "test_resnet") -> Path:
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, num_classes=len(labels), in_chans=channels)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path

#: what a test submission declares it learned from, by kind
TRAINED_ON = {"generator": [{"data": "phantom/site-a/train", "patients": 712, "population": 1000}],
              "classifier": ["phantom/site-a/train"]}


def write_submission(root: Path, name: str, kind: str, block: dict, batch_size: int = 8, **extra) -> Path:
    """A submission.yaml with one zero-code block (`diffusers`, `timm` or `precomputed`)."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = {"name": name, "version": "1", "kind": kind, "training_data": TRAINED_ON[kind],
                "batch_size": batch_size, **block, **extra}
    (root / "submission.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return root
