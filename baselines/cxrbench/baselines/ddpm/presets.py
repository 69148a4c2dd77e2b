"""Named architectures of the reference DDPM and the diffusion schedule they are trained with.

A `GeneratorConfig` is plain data: it is saved as `config.json` beside the weights and is all
`build_model` needs to rebuild the network, so weights and config can never silently disagree.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cxrbench.errors import ConfigError

#: Bumped when the meaning of a config field or of the condition vector changes.
CONFIG_VERSION = 1


class GeneratorConfig(BaseModel):
    """Architecture + diffusion schedule of one reference DDPM."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = CONFIG_VERSION
    preset: str
    image_size: int = Field(ge=16, le=1024)
    block_out_channels: tuple[int, ...]
    layers_per_block: int = Field(ge=1)
    #: one flag per resolution level, highest resolution first
    attention_levels: tuple[bool, ...]
    attention_head_dim: int = 64
    norm_num_groups: int = 32
    dropout: float = 0.0
    #: width of the condition MLP; its output is added to the timestep embedding
    condition_hidden: int | None = None
    condition_dropout: float = Field(default=0.1, ge=0.0, le=1.0)
    # diffusion schedule (the study's: v-prediction, cosine, zero terminal SNR, 1000 steps)
    num_train_timesteps: int = 1000
    beta_schedule: Literal["squaredcos_cap_v2"] = "squaredcos_cap_v2"
    prediction_type: Literal["v_prediction", "epsilon"] = "v_prediction"
    rescale_betas_zero_snr: bool = True

    @property
    def time_embed_dim(self) -> int:
        return self.block_out_channels[0] * 4

    def check(self) -> "GeneratorConfig":
        if len(self.attention_levels) != len(self.block_out_channels):
            raise ConfigError(
                f"preset {self.preset!r}: attention_levels has {len(self.attention_levels)} entries "
                f"but block_out_channels has {len(self.block_out_channels)}"
            )
        if self.image_size % (2 ** (len(self.block_out_channels) - 1)):
            raise ConfigError(f"preset {self.preset!r}: image_size {self.image_size} is not divisible "
                              f"by 2^(levels-1)")
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ConfigError(f"preset {self.preset!r}: channels {bad} not divisible by "
                              f"norm_num_groups={self.norm_num_groups}")
        return self


PRESETS: dict[str, GeneratorConfig] = {
    # The study's ADM-style UNet: attention at 32², 16², 8² of a 256² image (~120 M parameters).
    "paper-256": GeneratorConfig(
        preset="paper-256", image_size=256, block_out_channels=(128, 128, 256, 256, 512, 512),
        layers_per_block=2, attention_levels=(False, False, False, True, True, True),
        attention_head_dim=64, norm_num_groups=32, dropout=0.1,
    ),
    # The phantom default: 64² images, attention at 16² and 8².
    "small-64": GeneratorConfig(
        preset="small-64", image_size=64, block_out_channels=(32, 64, 96, 128),
        layers_per_block=2, attention_levels=(False, False, True, True),
        attention_head_dim=32, norm_num_groups=16,
    ),
    # Tests and the CPU demo: 32² images, attention only at 8²; sized so ~2,000 images at
    # ~15 solver steps sample in about a minute on a 2-core CPU.
    "tiny-32": GeneratorConfig(
        preset="tiny-32", image_size=32, block_out_channels=(16, 32, 64),
        layers_per_block=1, attention_levels=(False, False, True),
        attention_head_dim=32, norm_num_groups=8,
    ),
}


def get_preset(name: str) -> GeneratorConfig:
    """The config of a named preset; ConfigError listing the known ones otherwise."""
    try:
        return PRESETS[name].check()
    except KeyError:
        raise ConfigError(f"unknown generator preset {name!r}; known: {', '.join(PRESETS)}") from None
