"""The step loop does device work only: 0 host→device copies and 0 host syncs for every sampler,
counted on the `meta` device (the CUDA path without data) by a dispatch mode. The control: the
same counter sees the per-step copies of diffusers' own UniPC step and the copies of staging."""

import numpy as np
import pytest
import torch

from cxrbench.baselines.ddpm.conditioning import encode_conditions
from cxrbench.baselines.ddpm.sampling import Sampler, SamplerSettings
from cxrbench.baselines.ddpm.schedules import SAMPLERS, sampler_scheduler

from .copy_counter import HostTraffic
from .ddpm_helpers import MICRO, condition_table, random_model


@pytest.mark.parametrize("guidance", [0.0, 1.5])
@pytest.mark.parametrize("name", list(SAMPLERS))
def test_step_loop_makes_no_host_copies_or_syncs(name, guidance):
    sampler = Sampler(random_model(), SamplerSettings(sampler=name, steps=7, guidance=guidance, buckets=(8,)),
                      device="meta")
    assert sampler.dtype == torch.bfloat16  # the accelerator path, not the CPU one
    cond, seeds = encode_conditions(condition_table(5)), np.arange(5, dtype=np.int64)
    with HostTraffic() as staging:
        staged = sampler.stage(cond, seeds)
    assert staging.copies  # staging is where the host→device copies happen
    with HostTraffic() as loop:
        x = sampler.run(staged)
    assert x.device.type == "meta" and x.shape == (8, 1, 16, 16)
    assert loop.ops > 100  # the loop really ran under the counter
    assert loop.copies == [] and loop.syncs == []


def test_counter_sees_diffusers_per_step_copies():
    # diffusers' multistep UniPC keeps its schedule on the host and moves scalars every step
    scheduler = sampler_scheduler("unipc", MICRO)
    scheduler.set_timesteps(6)
    x = torch.zeros(2, 1, 16, 16, device="meta")
    with HostTraffic() as traffic:
        for t in scheduler.timesteps:
            x = scheduler.step(torch.zeros_like(x), t, x).prev_sample
    assert len(traffic.copies) >= 6
