"""The reference DDPM network: a diffusers `UNet2DModel` whose class embedding (`identity`) is
fed by a condition MLP, plus a learned null embedding for classifier-free guidance.

Weights live in `model.safetensors` beside `config.json` (a `GeneratorConfig`); loading checks
every tensor name and shape against the network the config builds.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import UNet2DModel
from safetensors.torch import load_file, save_file
from torch import nn

from cxrbench.baselines.ddpm.conditioning import CONDITION_DIM
from cxrbench.baselines.ddpm.presets import GeneratorConfig
from cxrbench.errors import ConfigError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class ConditionEncoder(nn.Module):
    """Condition vector → an embedding added to the timestep embedding; `null` replaces it for
    dropped (unconditional) rows."""

    def __init__(self, embed_dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or embed_dim
        self.mlp = nn.Sequential(nn.Linear(CONDITION_DIM, hidden), nn.SiLU(), nn.Linear(hidden, embed_dim))
        self.null = nn.Parameter(torch.zeros(embed_dim))

    def forward(self, conditions: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.mlp(conditions)
        if drop is not None:
            emb = torch.where(drop[:, None], self.null.to(emb.dtype).expand_as(emb), emb)
        return emb

    def unconditional(self, n: int) -> torch.Tensor:
        return self.null[None].expand(n, -1)


class ConditionalUNet(nn.Module):
    """UNet + condition encoder. `forward(x, t, embedding)` takes an already encoded condition so
    the sampler can batch conditional and null embeddings into one call."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        config.check()
        self.config = config
        down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in config.attention_levels)
        up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention_levels))
        self.unet = UNet2DModel(
            sample_size=config.image_size, in_channels=1, out_channels=1,
            block_out_channels=config.block_out_channels, layers_per_block=config.layers_per_block,
            down_block_types=down, up_block_types=up, attention_head_dim=config.attention_head_dim,
            norm_num_groups=config.norm_num_groups, dropout=config.dropout,
            class_embed_type="identity", num_train_timesteps=config.num_train_timesteps,
        )
        self.condition_encoder = ConditionEncoder(config.time_embed_dim, config.condition_hidden)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timestep, class_labels=embedding).sample


def build_model(config: GeneratorConfig) -> ConditionalUNet:
    return ConditionalUNet(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_pretrained(model: ConditionalUNet, directory: str | Path) -> Path:
    """Write `config.json` and `model.safetensors` (fp32) atomically into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = directory / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp), metadata={"preset": model.config.preset, "format": "pt"})
    tmp.replace(directory / WEIGHTS_FILE)
    write_config(model.config, directory)
    return directory


def write_config(config: GeneratorConfig, directory: Path) -> None:
    tmp = directory / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
    tmp.replace(directory / CONFIG_FILE)


def read_config(directory: str | Path) -> GeneratorConfig:
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{path}: missing generator config (expected beside {WEIGHTS_FILE})")
    try:
        return GeneratorConfig.model_validate(json.loads(path.read_text())).check()
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: invalid generator config: {exc}") from None


def load_state_checked(model: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Load `state` into `model`, raising ConfigError on any missing, extra or misshapen tensor."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    misshapen = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items()
                 if k in state and state[k].shape != v.shape]
    if missing or extra or misshapen:
        parts = []
        if missing:
            parts.append(f"{len(missing)} tensor(s) missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected tensor(s) (e.g. {extra[0]})")
        if misshapen:
            k, got, want = misshapen[0]
            parts.append(f"{len(misshapen)} tensor(s) of the wrong shape (e.g. {k}: {got} vs config {want})")
        raise ConfigError(f"{where}: weights do not match config.json: " + "; ".join(parts))
    model.load_state_dict(state)


def load_pretrained(directory: str | Path) -> ConditionalUNet:
    """Rebuild the network from `config.json` and load `model.safetensors` into it (fp32, CPU)."""
    directory = Path(directory)
    config = read_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        raise ConfigError(f"{weights}: missing weights file")
    model = build_model(config)
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ConfigError(f"{weights}: unreadable safetensors file: {exc}") from None
    load_state_checked(model, state, str(weights))
    return model.eval()
