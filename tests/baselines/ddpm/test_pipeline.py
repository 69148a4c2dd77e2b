"""The reference DDPM as a diffusers pipeline: exact round trips, diffusers' own loader, and the
shipped tiny-32 folder migrated without changing a tensor or a sample."""

import hashlib
import json

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DiffusionPipeline
from golden import assert_images_close

import cxrbench.baselines.ddpm.pipeline as cxr_pipeline
from cxrbench.baselines.ddpm import ReferenceGenerator
from cxrbench.baselines.ddpm.generator import WEIGHTS_ROOT
from cxrbench.baselines.ddpm.model import load_pretrained, save_pretrained
from cxrbench.baselines.ddpm.pipeline import CxrDDPMPipeline
from cxrbench.baselines.ddpm.presets import PRESETS
from cxrbench.baselines.ddpm.schedules import sampler_scheduler
from cxrbench.errors import ConfigError

from .ddpm_helpers import MICRO, condition_table, random_model
from .shipped_samples import CASES, draw, goldens, name

TINY = WEIGHTS_ROOT / "tiny-32"

#: sha256 over sorted (name, shape, dtype, bytes) of the shipped tiny-32's 189 tensors (read, not
#: computed: the same bytes on every machine). Its samples are golden images (`shipped_samples.py`),
#: compared within the reproducibility contract's tolerance (`golden.assert_images_close`).
TINY_TENSORS = "aeb48559bca53f1a4754068a0d87fe5974007bddc438333828eb9c3026178635"


def tensor_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].contiguous()
        h.update(k.encode() + b"\0" + str(tuple(t.shape)).encode() + str(t.dtype).encode() + t.numpy().tobytes())
    return h.hexdigest()


def folder_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_standard_pipeline_folder(tmp_path):
    save_pretrained(random_model(), tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == "CxrDDPMPipeline" and index["preset"] == MICRO.preset
    assert index["unet"] == ["diffusers", "UNet2DModel"]
    assert index["condition_encoder"] == ["cxrbench.baselines.ddpm.model", "ConditionEncoder"]
    assert index["scheduler"] == ["diffusers", "DPMSolverMultistepScheduler"]
    for part in ("unet", "condition_encoder"):
        assert (tmp_path / part / "config.json").is_file()
        assert (tmp_path / part / "diffusion_pytorch_model.safetensors").is_file()
    assert json.loads((tmp_path / "scheduler" / "scheduler_config.json").read_text())["prediction_type"] == "v_prediction"
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.glob(".saving-*"))


def test_save_load_save_is_bit_for_bit(tmp_path):
    save_pretrained(random_model(), tmp_path / "a")
    pipe = CxrDDPMPipeline.from_pretrained(tmp_path / "a")
    assert pipe.generator_config() == MICRO
    pipe.save_pretrained(tmp_path / "b")
    assert folder_bytes(tmp_path / "a") == folder_bytes(tmp_path / "b")
    pipe.save_pretrained(tmp_path / "a")  # over an existing folder: replaced in place, same bytes
    assert folder_bytes(tmp_path / "a") == folder_bytes(tmp_path / "b")


def test_pipeline_samples_like_the_reference_generator(tmp_path):
    save_pretrained(random_model(), tmp_path)
    table, seeds = condition_table(5, seed=1), np.array([7, 3, 11, 2**40, 0])
    ref = ReferenceGenerator.from_pretrained(tmp_path, sampler="dpmpp-2m", steps=6, guidance=1.0).generate(table, seeds)
    pipe = CxrDDPMPipeline.from_pretrained(tmp_path)
    out = pipe(table, seeds=seeds, num_inference_steps=6, guidance_scale=1.0).images
    assert out.dtype == np.uint8 and out.shape == (5, 16, 16) and out.std() > 0
    np.testing.assert_array_equal(out, ref)
    # batch size never changes an image; a swapped scheduler is the one sampled with
    np.testing.assert_array_equal(pipe(table, seeds=seeds, num_inference_steps=6, guidance_scale=1.0,
                                       batch_size=2).images, ref)
    pipe.scheduler = sampler_scheduler("ddim", MICRO)
    assert pipe.sampler_name == "ddim"
    ddim = ReferenceGenerator.from_pretrained(tmp_path, sampler="ddim", steps=6).generate(table, seeds)
    np.testing.assert_array_equal(pipe(table, seeds=seeds, num_inference_steps=6).images, ddim)
    assert not np.array_equal(ddim, ref)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, clip_sample=True, clip_sample_range=0.1)
    with pytest.raises(ConfigError, match="differs from the reference ddim schedule in clip_sample"):
        pipe(table, seeds=seeds, num_inference_steps=6)  # never silently sampled with another schedule
    pipe.scheduler = sampler_scheduler("ddim", MICRO)
    pil = pipe(table.iloc[:1], seeds=seeds[:1], num_inference_steps=6, output_type="pil").images
    assert pil[0].mode == "L" and pil[0].size == (16, 16)


def test_diffusers_own_loader_with_the_documented_call(tmp_path):
    save_pretrained(random_model(), tmp_path)
    table, seeds = condition_table(3, seed=2), np.array([5, 6, 7])
    mine = CxrDDPMPipeline.from_pretrained(tmp_path)(table, seeds=seeds, num_inference_steps=4).images
    with pytest.raises(ValueError, match="trust_remote_code"):
        DiffusionPipeline.from_pretrained(tmp_path, custom_pipeline=cxr_pipeline.__file__)
    pipe = DiffusionPipeline.from_pretrained(tmp_path, custom_pipeline=cxr_pipeline.__file__, trust_remote_code=True)
    assert type(pipe).__name__ == "CxrDDPMPipeline"
    np.testing.assert_array_equal(pipe(table, seeds=seeds, num_inference_steps=4).images, mine)


def test_components_that_are_not_a_reference_ddpm_are_named(tmp_path):
    save_pretrained(random_model(), tmp_path)
    config = json.loads((tmp_path / "unet" / "config.json").read_text())
    config["class_embed_type"] = None  # a plain unconditional UNet: same tensors, no condition input
    (tmp_path / "unet" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="unet/config.json differs from a reference DDPM UNet in class_embed_type"):
        load_pretrained(tmp_path)


def test_shipped_tiny32_tensors_are_the_trained_ones():
    assert tensor_digest(load_pretrained(TINY).state_dict()) == TINY_TENSORS
    assert CxrDDPMPipeline.from_pretrained(TINY).generator_config() == PRESETS["tiny-32"]


@pytest.mark.parametrize("case", CASES, ids=name)
def test_shipped_tiny32_samples_are_unchanged(case):
    images = draw(case)
    assert_images_close(images, goldens()[name(case)], name(case))
    sampler, steps, _ = case
    if sampler == "dpmpp-2m":  # the folder's own scheduler is this sampler: the pipeline gives the same bytes
        pipe = CxrDDPMPipeline.from_pretrained(TINY)
        table, seeds = condition_table(12, seed=4), np.arange(100, 112, dtype=np.int64)
        np.testing.assert_array_equal(pipe(table, seeds=seeds, num_inference_steps=steps, batch_size=16).images, images)


