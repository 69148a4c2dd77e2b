"""`DiffusersGenerator`: a `diffusers:` submission run inside the sandbox (no code of its own).

- `unconditional` and `class_labels`: the pipeline's pixel-space UNet and scheduler are sampled
  here, so class labels reach the UNet and every image gets its own noise stream;
- `prompt`: the pipeline's own `__call__` with one prompt per row and one generator per image.

Every image is seeded by its own seed (one `torch.Generator` per image, for the initial noise and
any noise a stochastic scheduler adds), and each batch is padded to the manifest's batch size with
copies of its last row, so an image never depends on which other rows share its batch.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cxrbench.submissions.adapters import read_block
from cxrbench.submissions.adapters.images import benchmark_images
from cxrbench.submissions.condition_mapping import class_labels, prompts
from cxrbench.submissions.diffusers_block import DiffusersBlock

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def load_pipeline(folder: Path, block: DiffusersBlock, device: str):
    """The pipeline of a checked folder: diffusers classes only, safetensors only, offline."""
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except ImportError:  # only text-to-image pipelines need transformers
        pass
    pipe = diffusers.DiffusionPipeline.from_pretrained(
        str(folder), use_safetensors=True, local_files_only=True, dtype=_DTYPES[block.dtype])
    if block.scheduler:
        cls = getattr(diffusers, block.scheduler)
        pipe.scheduler = cls.from_config(pipe.scheduler.config, **block.scheduler_options)
    elif block.scheduler_options:
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, **block.scheduler_options)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


class DiffusersGenerator:
    def __init__(self, submission_dir: Path, device: str = "cpu", hub: dict[str, str] | None = None) -> None:
        manifest, self.block = read_block(Path(submission_dir), "diffusers")
        self.batch_size = manifest.batch_size
        self.device = torch.device(device)
        # a Hub id's snapshot, where the runner showed it (`hub`: id -> folder); else the folder in the submission
        folder = Path((hub or {}).get(self.block.pipeline) or Path(submission_dir) / self.block.pipeline)
        self.pipe = load_pipeline(folder, self.block, device)

    def generate(self, conditions: pd.DataFrame, seeds: np.ndarray, size: int) -> np.ndarray:
        n = len(conditions)
        out = np.empty((n, size, size), dtype=np.uint8)
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            rows = conditions.iloc[start:stop].reset_index(drop=True)
            batch_seeds = np.asarray(seeds[start:stop], dtype=np.int64)
            pad = self.batch_size - len(rows)
            if pad:  # padding rows repeat the last row; their images are dropped
                rows = pd.concat([rows, rows.iloc[[-1] * pad]], ignore_index=True)
                batch_seeds = np.concatenate([batch_seeds, np.repeat(batch_seeds[-1:], pad)])
            images = self._batch(rows, batch_seeds)
            out[start:stop] = benchmark_images(images, size, self.block.output.channel,
                                               self.block.output.resize)[:stop - start]
        return out

    # -- one batch: [0, 1] float (B, C, H, W) ------------------------------------------------
    def _batch(self, rows: pd.DataFrame, seeds: np.ndarray) -> torch.Tensor:
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        mode = self.block.conditioning.mode
        with torch.inference_mode():
            if mode == "prompt":
                return self._prompted(rows, generators)
            labels = None
            if mode == "class_labels":
                labels = torch.from_numpy(class_labels(rows, self.block.conditioning.class_labels))
            return self._sampled(labels, generators)

    def _prompted(self, rows: pd.DataFrame, generators: list[torch.Generator]) -> torch.Tensor:
        mapping = self.block.conditioning.prompt
        kwargs = dict(prompt=prompts(rows, mapping), num_inference_steps=self.block.steps,
                      guidance_scale=self.block.guidance_scale, generator=generators, output_type="np")
        if mapping.negative_prompt is not None:
            kwargs["negative_prompt"] = [mapping.negative_prompt] * len(rows)
        for name in ("height", "width"):
            if getattr(self.block, name):
                kwargs[name] = getattr(self.block, name)
        images = np.asarray(self.pipe(**kwargs).images, dtype=np.float32)  # (B, H, W, C) in [0, 1]
        return torch.from_numpy(images).permute(0, 3, 1, 2)

    def _sampled(self, labels: torch.Tensor | None, generators: list[torch.Generator]) -> torch.Tensor:
        unet, scheduler = self.pipe.unet, self.pipe.scheduler
        cfg = unet.config
        shape = (cfg.in_channels, cfg.sample_size, cfg.sample_size) if isinstance(cfg.sample_size, int) else \
            (cfg.in_channels, *cfg.sample_size)
        x = torch.cat([torch.randn((1, *shape), generator=g) for g in generators]).to(self.device)
        scheduler.set_timesteps(self.block.steps, device=self.device)
        x = x * scheduler.init_noise_sigma
        mapping = self.block.conditioning.class_labels
        w = self.block.guidance_scale
        guided = labels is not None and w > 1
        if labels is not None:
            labels = labels.to(self.device, dtype=unet.dtype if labels.is_floating_point() else labels.dtype)
            if guided:
                labels = torch.cat([labels, torch.full_like(labels, mapping.null_class)])
        stochastic = "generator" in inspect.signature(scheduler.step).parameters
        extra = {"encoder_hidden_states": None} if type(unet).__name__ == "UNet2DConditionModel" else {}
        for t in scheduler.timesteps:
            xin = scheduler.scale_model_input(x, t).to(unet.dtype)
            if guided:
                cond, uncond = unet(torch.cat([xin, xin]), t, class_labels=labels, **extra).sample.float().chunk(2)
                out = uncond + w * (cond - uncond)
            else:
                out = unet(xin, t, class_labels=labels, **extra).sample.float()
            x = scheduler.step(out, t, x, **({"generator": generators} if stochastic else {})).prev_sample
        lo, hi = self.block.output.value_range
        return ((x.float() - lo) / (hi - lo)).cpu()
