"""The reference DDPM as a diffusers pipeline: `CxrDDPMPipeline` (UNet + condition encoder + scheduler).

A weights folder is a standard diffusers pipeline folder:

```
model_index.json                       {"_class_name": "CxrDDPMPipeline", "preset": ..., components}
unet/config.json, unet/diffusion_pytorch_model.safetensors                       UNet2DModel
condition_encoder/config.json, condition_encoder/diffusion_pytorch_model.safetensors   ConditionEncoder
scheduler/scheduler_config.json        the sampler to use (DPM-Solver++(2M) by default)
```

Load it with `CxrDDPMPipeline.from_pretrained(folder)`, or through diffusers' own loader, which
needs the pipeline's code named (it is not a class diffusers ships) and, for local code, trust:

```python
import cxrbench.baselines.ddpm.pipeline as cxr
pipe = DiffusionPipeline.from_pretrained(folder, custom_pipeline=cxr.__file__, trust_remote_code=True)
images = pipe(condition_rows, seeds=seeds, num_inference_steps=10).images   # uint8 (N, S, S)
```

Sampling is the reference `Sampler` (sampling.py) run with the pipeline's own scheduler, so an
image depends only on its seed and its condition row, exactly as with `ReferenceGenerator`.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput, SchedulerMixin, UNet2DModel
from diffusers.configuration_utils import FrozenDict
from pydantic import ValidationError

from cxrbench.baselines.ddpm.conditioning import encode_conditions
from cxrbench.baselines.ddpm.model import ConditionalUNet, ConditionEncoder, unet_for
from cxrbench.baselines.ddpm.presets import GeneratorConfig
from cxrbench.baselines.ddpm.sampling import Sampler, SamplerSettings
from cxrbench.baselines.ddpm.schedules import SAMPLERS, sampler_scheduler
from cxrbench.errors import ConfigError

PIPELINE_INDEX = "model_index.json"
#: the diffusers scheduler class of each reference sampler name
SCHEDULER_SAMPLERS = {"DDPMScheduler": "ddpm", "DDIMScheduler": "ddim",
                      "DPMSolverMultistepScheduler": "dpmpp-2m", "UniPCMultistepScheduler": "unipc"}
DEFAULT_SAMPLER = "dpmpp-2m"


class CxrDDPMPipeline(DiffusionPipeline):
    """Condition rows (14 labels + age, sex, race, view) and one seed per image → uint8 images."""

    model_cpu_offload_seq = "condition_encoder->unet"

    def __init__(self, unet: UNet2DModel, condition_encoder: ConditionEncoder, scheduler: SchedulerMixin,
                 preset: str = "custom") -> None:
        super().__init__()
        self.register_modules(unet=unet, condition_encoder=condition_encoder, scheduler=scheduler)
        self.register_to_config(preset=preset)
        self._samplers: dict[tuple, Sampler] = {}

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if name == "condition_encoder" and value is not None:
            # diffusers reads the module `…ddpm.model` as its own `pipelines.ddpm`: name it in full
            self.register_to_config(condition_encoder=(type(value).__module__, type(value).__name__))

    # -- building and converting ---------------------------------------------------------------
    @classmethod
    def from_model(cls, model: ConditionalUNet, sampler: str = DEFAULT_SAMPLER) -> "CxrDDPMPipeline":
        """A pipeline holding fp32 CPU copies of a `ConditionalUNet`'s parts and `sampler`'s scheduler."""
        model = copy.deepcopy(model).float().cpu().eval()
        return cls(unet=model.unet, condition_encoder=model.condition_encoder,
                   scheduler=sampler_scheduler(sampler, model.config), preset=model.config.preset)

    def generator_config(self) -> GeneratorConfig:
        """The `GeneratorConfig` these components are; ConfigError if they are not a reference DDPM."""
        u, e, s = self.unet.config, self.condition_encoder.config, self.scheduler.config
        try:
            config = GeneratorConfig(
                preset=self.config.preset, image_size=u.sample_size, block_out_channels=tuple(u.block_out_channels),
                layers_per_block=u.layers_per_block,
                attention_levels=tuple(t.startswith("Attn") for t in u.down_block_types),
                attention_head_dim=u.attention_head_dim, norm_num_groups=u.norm_num_groups, dropout=u.dropout,
                condition_hidden=e.hidden, condition_dropout=e.condition_dropout,
                num_train_timesteps=s.num_train_timesteps, beta_schedule=s.beta_schedule,
                prediction_type=s.prediction_type, rescale_betas_zero_snr=s.rescale_betas_zero_snr,
            ).check()
        except (ValidationError, AttributeError, TypeError) as exc:
            raise ConfigError(f"CxrDDPMPipeline: components are not a cxrbench reference DDPM: {exc}") from None
        with torch.device("meta"):
            expected = unet_for(config).config
        diff = sorted(k for k in expected if not k.startswith("_") and _plain(expected[k]) != _plain(u.get(k)))
        if diff:
            raise ConfigError(f"CxrDDPMPipeline: unet/config.json differs from a reference DDPM UNet in "
                              f"{', '.join(diff)} (e.g. {diff[0]}={u.get(diff[0])!r}, expected {expected[diff[0]]!r})")
        if e.embed_dim != config.time_embed_dim:
            raise ConfigError(f"CxrDDPMPipeline: condition_encoder embed_dim {e.embed_dim} does not fit the UNet's "
                              f"time embedding ({config.time_embed_dim})")
        return config

    def conditional_unet(self) -> ConditionalUNet:
        """The `ConditionalUNet` sharing this pipeline's UNet and condition encoder (no copy)."""
        return ConditionalUNet(self.generator_config(), self.unet, self.condition_encoder)

    @property
    def sampler_name(self) -> str:
        name = SCHEDULER_SAMPLERS.get(type(self.scheduler).__name__)
        if name is None:
            raise ConfigError(f"CxrDDPMPipeline: scheduler {type(self.scheduler).__name__} is not one of the reference "
                              f"samplers ({', '.join(SCHEDULER_SAMPLERS)})")
        return name

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """diffusers' `save_pretrained` (safetensors), written to a scratch folder and moved into
        place entry by entry, so an interrupted save never leaves a half-written component.
        Where the pipeline was loaded from is not saved, so load → save gives the same bytes."""
        target = Path(save_directory)
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target, prefix=".saving-") as tmp, _without_origin(self):
            super().save_pretrained(tmp, safe_serialization=True, **kwargs)
            for entry in sorted(Path(tmp).iterdir()):
                dest = target / entry.name
                if dest.is_dir():
                    shutil.rmtree(dest)
                os.replace(entry, dest)

    # -- sampling ------------------------------------------------------------------------------
    def _sampler(self, steps: int | None, guidance: float, batch_size: int) -> Sampler:
        name = self.sampler_name
        steps = SAMPLERS[name] if steps is None else int(steps)
        key = (name, steps, float(guidance), int(batch_size), str(self.unet.device), self.unet.dtype, id(self.scheduler))
        if key not in self._samplers:
            settings = SamplerSettings(sampler=name, steps=steps, guidance=float(guidance), buckets=(int(batch_size),),
                                       dtype=self.unet.dtype)
            # The device-side solver (solvers.py) steps with coefficients of the reference schedule:
            # a scheduler configured otherwise (clipping, thresholding, other betas) is refused, not ignored.
            reference = sampler_scheduler(name, self.generator_config()).config
            differs = sorted(k for k, v in reference.items() if not k.startswith("_") and self.scheduler.config.get(k) != v)
            if differs:
                raise ConfigError(f"CxrDDPMPipeline: scheduler config differs from the reference {name} schedule in "
                                  f"{', '.join(differs)}; the device-side sampler supports the reference schedule only")
            sampler = Sampler(self.conditional_unet(), settings, device=self.unet.device)
            self._samplers = {key: sampler}  # one at a time: a compiled sampler holds GPU memory
        return self._samplers[key]

    @torch.inference_mode()
    def __call__(self, conditions: pd.DataFrame, seeds: np.ndarray | list[int] | None = None,
                 num_inference_steps: int | None = None, guidance_scale: float = 0.0, batch_size: int = 64,
                 output_type: str = "uint8", return_dict: bool = True):
        """Images for canonical condition rows. `seeds`: one int per row (default 0..N-1);
        `guidance_scale` w: v = v_cond + w (v_cond − v_uncond). `output_type`: "uint8" → an array
        (N, S, S), "pil" → a list of greyscale PIL images."""
        if output_type not in ("uint8", "pil"):
            raise ConfigError(f"output_type must be 'uint8' or 'pil', got {output_type!r}")
        n = len(conditions)
        seeds = np.arange(n, dtype=np.int64) if seeds is None else np.asarray(seeds, dtype=np.int64)
        if seeds.shape != (n,):
            raise ConfigError(f"{n} condition rows but seeds of shape {seeds.shape}")
        vectors = encode_conditions(conditions.reset_index(drop=True))
        images = self._sampler(num_inference_steps, guidance_scale, batch_size).sample(vectors, seeds)
        if output_type == "pil":
            from PIL import Image

            images = [Image.fromarray(im, mode="L") for im in images]
        return ImagePipelineOutput(images=images) if return_dict else (images,)


@contextlib.contextmanager
def _without_origin(pipeline: DiffusionPipeline):
    """Hide `_name_or_path` (the folder a config was read from) from the pipeline's and its parts' configs."""
    owners = [pipeline, *(c for c in pipeline.components.values() if hasattr(c, "_internal_dict"))]
    saved = [o._internal_dict for o in owners]
    try:
        for owner in owners:
            owner._internal_dict = FrozenDict({k: v for k, v in owner._internal_dict.items() if k != "_name_or_path"})
        yield
    finally:
        for owner, internal in zip(owners, saved):
            owner._internal_dict = internal


def _plain(value):
    """Config values as JSON has them (tuples and lists compare equal)."""
    return list(value) if isinstance(value, tuple) else value
