"""The reference conditional DDPM: model, condition encoder, training, fast sampler.

Public entry points: `ReferenceGenerator.from_pretrained(dir_or_preset, device=..., sampler=...,
steps=..., guidance=...)` and `.generate(conditions, seeds, size)`; `encode_conditions(df)`;
`train_generator(...)`. See docs/ddpm.md.
"""

from cxrbench.baselines.ddpm.conditioning import CONDITION_DIM, encode_conditions
from cxrbench.baselines.ddpm.generator import ReferenceGenerator
from cxrbench.baselines.ddpm.presets import PRESETS, GeneratorConfig, get_preset
from cxrbench.baselines.ddpm.schedules import SAMPLERS

__all__ = ["CONDITION_DIM", "PRESETS", "SAMPLERS", "GeneratorConfig", "ReferenceGenerator",
           "encode_conditions", "get_preset"]
