"""The diffusion schedule (training) and the samplers (inference), all diffusers schedulers built
from one `GeneratorConfig` so training and sampling can never disagree on the noise schedule."""

from __future__ import annotations

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    SchedulerMixin,
    UniPCMultistepScheduler,
)

from cxrbench.baselines.ddpm.presets import GeneratorConfig
from cxrbench.errors import ConfigError

#: sampler name → default number of steps
SAMPLERS: dict[str, int] = {"ddpm": 1000, "ddim": 200, "dpmpp-2m": 20, "unipc": 20}


def _schedule_kwargs(config: GeneratorConfig) -> dict:
    # "trailing" spacing makes the first sampling step start at t = T-1, where zero terminal SNR
    # puts pure noise (Lin et al. 2023); without it the sampler never sees the terminal step.
    return dict(
        num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule,
        prediction_type=config.prediction_type, rescale_betas_zero_snr=config.rescale_betas_zero_snr,
        timestep_spacing="trailing",
    )


def training_scheduler(config: GeneratorConfig) -> DDPMScheduler:
    """The forward process used in training (add_noise, get_velocity)."""
    return DDPMScheduler(**_schedule_kwargs(config), clip_sample=False)


def sampler_scheduler(name: str, config: GeneratorConfig) -> SchedulerMixin:
    """A fresh diffusers scheduler for sampler `name` (see `SAMPLERS`)."""
    kw = _schedule_kwargs(config)
    if name == "ddpm":
        return DDPMScheduler(**kw, clip_sample=False)
    if name == "ddim":
        return DDIMScheduler(**kw, clip_sample=False, set_alpha_to_one=True)
    if name == "dpmpp-2m":
        return DPMSolverMultistepScheduler(**kw, algorithm_type="dpmsolver++", solver_order=2,
                                           lower_order_final=True, final_sigmas_type="zero")
    if name == "unipc":
        return UniPCMultistepScheduler(**kw, solver_order=2, lower_order_final=True,
                                       final_sigmas_type="zero")
    raise ConfigError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")


def check_steps(name: str, steps: int | None, config: GeneratorConfig) -> int:
    """Default or validated number of sampling steps for `name`."""
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    steps = SAMPLERS[name] if steps is None else int(steps)
    if not 1 <= steps <= config.num_train_timesteps:
        raise ConfigError(f"sampler {name!r}: steps must be 1..{config.num_train_timesteps}, got {steps}")
    return steps
