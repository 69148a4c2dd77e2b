"""The reference DDPM network: a diffusers `UNet2DModel` whose class embedding (`identity`) is
fed by a condition MLP, plus a learned null embedding for classifier-free guidance.

Both parts are diffusers models (`ModelMixin, ConfigMixin`), so a weights folder is a standard
diffusers pipeline folder (`pipeline.py`: `CxrDDPMPipeline`). `save_pretrained` writes that
layout; `load_pretrained` reads it, and still reads the first releases' flat layout
(`config.json` = a `GeneratorConfig` + `model.safetensors`), checking every tensor name and shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import ModelMixin, UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from cxrbench.baselines.ddpm.conditioning import CONDITION_DIM
from cxrbench.baselines.ddpm.presets import GeneratorConfig
from cxrbench.errors import ConfigError

#: the pipeline layout (see pipeline.py): one folder per model component
PIPELINE_INDEX = "model_index.json"
PIPELINE_MODELS = ("unet", "condition_encoder")
PIPELINE_WEIGHTS = "diffusion_pytorch_model.safetensors"
#: the first releases' flat layout, still read
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class ConditionEncoder(ModelMixin, ConfigMixin):
    """Condition vector → an embedding added to the timestep embedding; `null` replaces it for
    dropped (unconditional) rows. `condition_dim` is the length of `encode_conditions`' vectors;
    `condition_dropout` is the training-time drop rate (kept here so the folder says it)."""

    @register_to_config
    def __init__(self, embed_dim: int, hidden: int | None = None, condition_dim: int = CONDITION_DIM,
                 condition_dropout: float = 0.1) -> None:
        super().__init__()
        if condition_dim != CONDITION_DIM:
            raise ConfigError(f"condition encoder: condition_dim {condition_dim} but this cxrbench encodes "
                              f"{CONDITION_DIM} condition features")
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


def unet_for(config: GeneratorConfig) -> UNet2DModel:
    """The (random-init) diffusers UNet of a config: 1 channel in and out, identity class embedding."""
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in config.attention_levels)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention_levels))
    return UNet2DModel(
        sample_size=config.image_size, in_channels=1, out_channels=1,
        block_out_channels=config.block_out_channels, layers_per_block=config.layers_per_block,
        down_block_types=down, up_block_types=up, attention_head_dim=config.attention_head_dim,
        norm_num_groups=config.norm_num_groups, dropout=config.dropout,
        class_embed_type="identity", num_train_timesteps=config.num_train_timesteps,
    )


def encoder_for(config: GeneratorConfig) -> ConditionEncoder:
    return ConditionEncoder(config.time_embed_dim, config.condition_hidden, CONDITION_DIM, config.condition_dropout)


class ConditionalUNet(nn.Module):
    """UNet + condition encoder. `forward(x, t, embedding)` takes an already encoded condition so
    the sampler can batch conditional and null embeddings into one call. Built from a config
    (random init), or around existing components (`CxrDDPMPipeline.conditional_unet`)."""

    def __init__(self, config: GeneratorConfig, unet: UNet2DModel | None = None,
                 condition_encoder: ConditionEncoder | None = None) -> None:
        super().__init__()
        config.check()
        self.config = config
        self.unet = unet if unet is not None else unet_for(config)
        self.condition_encoder = condition_encoder if condition_encoder is not None else encoder_for(config)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timestep, class_labels=embedding).sample


def build_model(config: GeneratorConfig) -> ConditionalUNet:
    return ConditionalUNet(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_pretrained(model: ConditionalUNet, directory: str | Path) -> Path:
    """Write `model` (fp32) into `directory` as a diffusers pipeline folder (`CxrDDPMPipeline`)."""
    from cxrbench.baselines.ddpm.pipeline import CxrDDPMPipeline

    CxrDDPMPipeline.from_model(model).save_pretrained(directory)
    return Path(directory)


def write_config(config: GeneratorConfig, directory: Path) -> None:
    """The first releases' flat `config.json` (a `GeneratorConfig`)."""
    tmp = directory / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
    tmp.replace(directory / CONFIG_FILE)


def read_config(directory: str | Path) -> GeneratorConfig:
    """The `GeneratorConfig` of a weights folder, pipeline layout or flat."""
    directory = Path(directory)
    if (directory / PIPELINE_INDEX).is_file():
        return _load_pipeline(directory).generator_config()
    path = directory / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{path}: missing generator config (a weights folder holds {PIPELINE_INDEX}, or "
                          f"{CONFIG_FILE} beside {WEIGHTS_FILE})")
    try:
        return GeneratorConfig.model_validate(json.loads(path.read_text())).check()
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: invalid generator config: {exc}") from None


def is_weights_folder(directory: str | Path) -> bool:
    directory = Path(directory)
    return (directory / PIPELINE_INDEX).is_file() or (directory / CONFIG_FILE).is_file()


def weight_files(directory: str | Path) -> list[Path]:
    """The safetensors files that hold a weights folder's tensors, in a fixed order."""
    directory = Path(directory)
    if (directory / PIPELINE_INDEX).is_file():
        return [directory / c / PIPELINE_WEIGHTS for c in PIPELINE_MODELS]
    return [directory / WEIGHTS_FILE]


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


def _load_pipeline(directory: Path):
    from cxrbench.baselines.ddpm.pipeline import CxrDDPMPipeline

    for component in PIPELINE_MODELS:
        weights = directory / component / PIPELINE_WEIGHTS
        if not weights.is_file():
            raise ConfigError(f"{weights}: missing weights file (a {component} saved as safetensors)")
        try:
            with safe_open(str(weights), "pt"):
                pass
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            raise ConfigError(f"{weights}: unreadable safetensors file: {exc}") from None
    try:
        return CxrDDPMPipeline.from_pretrained(str(directory), low_cpu_mem_usage=False)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
        detail = next((ln for ln in lines[1:] if ln.startswith(("size mismatch", "Missing", "Unexpected"))), "")
        raise ConfigError(f"{directory}: not a loadable CxrDDPMPipeline folder: {lines[0]} {detail}".rstrip()) from None


def load_pretrained(directory: str | Path) -> ConditionalUNet:
    """The network of a weights folder (fp32, CPU): a pipeline folder, or the flat layout
    (`config.json` + `model.safetensors`) rebuilt from its config with every tensor checked."""
    directory = Path(directory)
    if (directory / PIPELINE_INDEX).is_file():
        return _load_pipeline(directory).conditional_unet().eval()
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
