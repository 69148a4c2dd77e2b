"""The fast sampler against a plain diffusers loop (fp32, CPU), and its batch-size independence."""

import numpy as np
import pytest
import torch
from diffusers.schedulers import scheduling_ddpm

from cxrbench.baselines.ddpm.conditioning import encode_conditions
from cxrbench.baselines.ddpm.noise import image_keys, seed_words
from cxrbench.baselines.ddpm.sampling import Sampler, SamplerSettings, image_generators, initial_noise, step_noise
from cxrbench.baselines.ddpm.schedules import sampler_scheduler
from cxrbench.errors import ConfigError

from .ddpm_helpers import condition_table

SEEDS = np.array([11, 12, 13, 2**40 + 5, -7], dtype=np.int64)


def plain_loop(model, name, steps, conditions, seeds, guidance=0.0, monkeypatch=None):
    """Textbook diffusers loop: one image set, separate conditional/unconditional forwards.
    For ddpm, diffusers' per-step noise draw is replaced by the sampler's counter noise."""
    scheduler = sampler_scheduler(name, model.config)
    size = model.config.image_size
    keys = image_keys(seed_words(seeds))
    pixels = torch.arange(size * size)
    scheduler.set_timesteps(steps)
    gens = image_generators(seeds)
    x = initial_noise(gens, model.config.image_size) * scheduler.init_noise_sigma
    cond = model.condition_encoder(conditions)
    uncond = model.condition_encoder.unconditional(len(seeds))
    with torch.no_grad():
        for i, t in enumerate(scheduler.timesteps):
            if name == "ddpm":
                noise = step_noise(keys, torch.tensor(i), pixels, size)
                monkeypatch.setattr(scheduling_ddpm, "randn_tensor", lambda *a, noise=noise, **k: noise)
            xin = scheduler.scale_model_input(x, t)
            v = model(xin, t, cond)
            if guidance:
                v = v + guidance * (v - model(xin, t, uncond))
            x = scheduler.step(v, t, x).prev_sample
    return x


@pytest.mark.parametrize("name,steps", [("ddim", 12), ("dpmpp-2m", 12), ("unipc", 12), ("ddpm", 40),
                                        ("dpmpp-2m", 1), ("unipc", 2), ("unipc", 3), ("ddim", 1)])
def test_matches_plain_diffusers_loop_fp32(micro_model, name, steps, monkeypatch):
    cond = encode_conditions(condition_table(len(SEEDS)))
    want = plain_loop(micro_model, name, steps, cond, SEEDS, monkeypatch=monkeypatch)
    sampler = Sampler(micro_model, SamplerSettings(sampler=name, steps=steps, buckets=(8,)))
    got = sampler.sample_batch(cond, SEEDS)
    assert got.shape == want.shape == (5, 1, 16, 16)
    assert want.abs().max() > 0.1  # a real signal, not all zeros
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_guidance_matches_separate_forwards(micro_model):
    cond = encode_conditions(condition_table(len(SEEDS), seed=1))
    want = plain_loop(micro_model, "dpmpp-2m", 10, cond, SEEDS, guidance=1.5)
    got = Sampler(micro_model, SamplerSettings(steps=10, guidance=1.5, buckets=(8,))).sample_batch(cond, SEEDS)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    plain = Sampler(micro_model, SamplerSettings(steps=10, buckets=(8,))).sample_batch(cond, SEEDS)
    assert (got - plain).abs().max() > 1e-3  # guidance changes the images


@pytest.mark.parametrize("name", ["dpmpp-2m", "ddpm"])
def test_each_image_depends_only_on_seed_and_condition(micro_model, name):
    n = 21
    table = condition_table(n, seed=2)
    cond = encode_conditions(table)
    seeds = np.arange(100, 100 + n, dtype=np.int64)
    settings = SamplerSettings(sampler=name, steps=8, buckets=(8,))
    sampler = Sampler(micro_model, settings)
    whole = sampler.sample(cond, seeds)
    # split differently: one image alone, an odd slice, a reversed order
    assert np.array_equal(sampler.sample(cond[[9]], seeds[[9]])[0], whole[9])
    assert np.array_equal(sampler.sample(cond[3:14], seeds[3:14]), whole[3:14])
    order = np.arange(n)[::-1].copy()
    assert np.array_equal(sampler.sample(cond[order], seeds[order]), whole[order])
    # and the seed and the condition each matter
    assert not np.array_equal(whole[0], sampler.sample(cond[[0]], seeds[[1]])[0])
    assert not np.array_equal(whole[0], sampler.sample(cond[[1]], seeds[[0]])[0])


def test_samplers_of_one_model_in_other_dtypes_leave_it_alone(micro_model):
    """`Module.to` casts in place: a bf16 Sampler must not turn an fp32 one's weights into bf16."""
    before = {k: v.clone() for k, v in micro_model.state_dict().items()}
    cond = encode_conditions(condition_table(2, seed=1))
    fp32 = Sampler(micro_model, SamplerSettings(sampler="ddim", steps=2, buckets=(2,)))
    Sampler(micro_model, SamplerSettings(sampler="ddim", steps=2, buckets=(2,), dtype=torch.bfloat16))
    assert all(torch.equal(v, before[k]) and v.dtype == before[k].dtype for k, v in micro_model.state_dict().items())
    assert fp32.sample_batch(cond, SEEDS[:2]).dtype == torch.float32


def test_bad_settings_are_refused(micro_model):
    with pytest.raises(ConfigError, match="unknown sampler 'euler'"):
        Sampler(micro_model, SamplerSettings(sampler="euler"))
    with pytest.raises(ConfigError, match="steps must be"):
        Sampler(micro_model, SamplerSettings(sampler="ddim", steps=0))
    with pytest.raises(ConfigError, match="guidance"):
        Sampler(micro_model, SamplerSettings(guidance=-1))
    with pytest.raises(ConfigError, match=r"steps must be 1\.\.1000, got 1001"):
        Sampler(micro_model, SamplerSettings(sampler="unipc", steps=1001))
    with pytest.raises(ConfigError, match="uses CUDA graphs and needs a CUDA device"):
        Sampler(micro_model, SamplerSettings(compile_mode="reduce-overhead"))
    with pytest.raises(ConfigError, match="unknown compile mode 'fast'"):
        Sampler(micro_model, SamplerSettings(compile_mode="fast"))


def test_compile_without_a_compiler_is_one_clear_line(micro_model, monkeypatch):
    from cxrbench.baselines.ddpm import acceleration

    monkeypatch.setattr(acceleration.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError) as err:
        Sampler(micro_model, SamplerSettings(compile_mode="default"))
    assert "\n" not in str(err.value)
    assert "no C++ compiler" in str(err.value) and "compile_mode=None" in str(err.value)
    with pytest.raises(ConfigError, match="no backend for device type 'meta'"):
        Sampler(micro_model, SamplerSettings(compile_mode="default"), device="meta")


def test_out_of_memory_names_the_batch_and_a_bucket_that_fits(micro_model, monkeypatch):
    sampler = Sampler(micro_model, SamplerSettings(steps=3, guidance=1.0, buckets=(8, 16)))

    def oom(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(sampler, "_denoise", oom)
    cond = encode_conditions(condition_table(12))
    with pytest.raises(ConfigError) as err:
        sampler.sample_batch(cond, np.arange(12))
    msg = str(err.value)
    assert "batch of 12 images padded to bucket 16" in msg and "32 rows per forward with guidance" in msg
    assert "use batch_size 8 (bucket 8) or smaller" in msg


@pytest.mark.slow
def test_compiled_denoiser_matches_eager_and_does_not_recompile(micro_model):
    # The GPU path compiles the denoiser; on a CPU the same code compiles with inductor (minutes).
    import torch._dynamo

    cond = encode_conditions(condition_table(len(SEEDS)))
    eager = Sampler(micro_model, SamplerSettings(steps=6, buckets=(8,), compile_mode=None)).sample_batch(cond, SEEDS)
    torch._dynamo.reset()
    compiled = Sampler(micro_model, SamplerSettings(steps=6, buckets=(8,), compile_mode="default"))
    torch.testing.assert_close(compiled.sample_batch(cond, SEEDS), eager, atol=1e-5, rtol=1e-5)
    frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    compiled.sample_batch(cond[:2], SEEDS[:2])  # another batch size, same bucket: no new graph
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == frames
