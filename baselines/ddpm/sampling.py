"""Sampling the reference DDPM fast, without changing what each image is.

Each image depends only on (its seed, its condition): its starting noise (and, for DDPM, its
per-step noise) comes from its own `torch.Generator` seeded with its seed, every batch is padded
to a fixed bucket size, and all layers act per sample. So results do not depend on batch size
or on how the work is split.

GPU path (`device="cuda"`): bf16 weights and activations, channels_last, `torch.compile` of the
denoiser (UNet + classifier-free guidance) with static shapes, CUDA graphs via
`mode="reduce-overhead"`, timesteps pre-staged on the device so the step loop never waits for
the host. The scheduler state `x` stays fp32. Compilation happens last, after dtype and layout
are final (casting a compiled module crashes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cxrbench.baselines.ddpm.model import ConditionalUNet
from cxrbench.baselines.ddpm.schedules import check_steps, sampler_scheduler
from cxrbench.errors import ConfigError


@dataclass(frozen=True)
class SamplerSettings:
    sampler: str = "dpmpp-2m"
    steps: int | None = None
    guidance: float = 0.0
    #: fixed batch buckets; a batch is padded up to the smallest bucket that holds it
    buckets: tuple[int, ...] = (64,)
    #: None = bf16 on CUDA, fp32 elsewhere
    dtype: torch.dtype | None = None
    #: None = compile on CUDA only; "reduce-overhead" adds CUDA graphs
    compile_mode: str | None = "auto"


def image_generators(seeds: np.ndarray) -> list[torch.Generator]:
    """One CPU generator per image, seeded with that image's seed."""
    return [torch.Generator("cpu").manual_seed(int(s)) for s in np.asarray(seeds, dtype=np.int64)]


def initial_noise(generators: list[torch.Generator], size: int) -> torch.Tensor:
    """x_T for each image from its own generator: float32 (N, 1, size, size) on the CPU."""
    return torch.cat([torch.randn((1, 1, size, size), generator=g) for g in generators])


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] float (N, 1, S, S) → uint8 (N, S, S)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0].cpu().numpy()


class Sampler:
    """Draws images from a `ConditionalUNet` with one diffusers scheduler.

    `guidance` w: v = v_cond + w (v_cond − v_uncond); w = 0 is plain conditional sampling and skips
    the unconditional half; otherwise both halves run in one batched forward.
    """

    def __init__(self, model: ConditionalUNet, settings: SamplerSettings = SamplerSettings(),
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.config = model.config
        self.settings = settings
        self.steps = check_steps(settings.sampler, settings.steps, self.config)
        if settings.guidance < 0:
            raise ConfigError(f"guidance scale must be >= 0, got {settings.guidance}")
        if not settings.buckets or min(settings.buckets) < 1:
            raise ConfigError(f"batch buckets must be positive, got {settings.buckets}")
        cuda = self.device.type == "cuda"
        self.dtype = settings.dtype or (torch.bfloat16 if cuda else torch.float32)
        mode = settings.compile_mode
        if mode == "auto":
            mode = "reduce-overhead" if cuda else None
        self.scheduler = sampler_scheduler(settings.sampler, self.config)
        # dtype and memory format are final before compiling
        model = model.eval().requires_grad_(False).to(self.device, dtype=self.dtype)
        if cuda:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._denoise = self._denoise_eager
        if mode is not None:
            self._denoise = torch.compile(self._denoise_eager, mode=mode, dynamic=False, fullgraph=False)

    # -- one network evaluation (compiled on GPU) --------------------------------------------
    def _denoise_eager(self, x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        xin = x.to(self.dtype)
        if self.device.type == "cuda":
            xin = xin.contiguous(memory_format=torch.channels_last)
        if self.settings.guidance == 0:
            return self.model(xin, t, emb).float()
        out = self.model(torch.cat([xin, xin]), torch.cat([t, t]), emb).float()
        cond, uncond = out.chunk(2)
        return cond + self.settings.guidance * (cond - uncond)

    def _embeddings(self, conditions: torch.Tensor) -> torch.Tensor:
        enc = self.model.condition_encoder
        emb = enc(conditions.to(self.device, self.dtype))
        if self.settings.guidance != 0:
            emb = torch.cat([emb, enc.unconditional(len(conditions)).to(emb.dtype)])
        return emb

    def bucket(self, n: int) -> int:
        fits = [b for b in sorted(self.settings.buckets) if b >= n]
        return fits[0] if fits else max(self.settings.buckets)

    @torch.inference_mode()
    def sample_batch(self, conditions: torch.Tensor, seeds: np.ndarray) -> torch.Tensor:
        """Float32 images in [-1, 1] (n, 1, S, S) for n ≤ the largest bucket."""
        n = len(seeds)
        if n == 0:
            size = self.config.image_size
            return torch.zeros((0, 1, size, size))
        size_b = self.bucket(n)
        if n > size_b:
            raise ValueError(f"batch of {n} exceeds the largest bucket {size_b}")
        pad = size_b - n
        seeds = np.asarray(seeds, dtype=np.int64)
        if pad:  # padding rows repeat the last row; their outputs are dropped
            seeds = np.concatenate([seeds, np.repeat(seeds[-1:], pad)])
            conditions = torch.cat([conditions, conditions[-1:].expand(pad, -1)])
        gens = image_generators(seeds)
        scheduler = self.scheduler
        scheduler.set_timesteps(self.steps, device="cpu")
        timesteps = scheduler.timesteps
        # staged once: indexing a device tensor in the loop needs no host round trip
        t_device = timesteps.to(self.device)[:, None].expand(-1, size_b).contiguous()
        emb = self._embeddings(conditions)
        x = initial_noise(gens, self.config.image_size).to(self.device) * scheduler.init_noise_sigma
        stochastic = self.settings.sampler == "ddpm"
        for i, t in enumerate(timesteps):
            xin = scheduler.scale_model_input(x, t)
            v = self._denoise(xin, t_device[i], emb).clone()  # clone: CUDA-graph outputs are reused
            kwargs = {"generator": gens} if stochastic else {}
            x = scheduler.step(v, t, x, **kwargs).prev_sample
        return x[:n].float()

    def sample(self, conditions: torch.Tensor, seeds: np.ndarray, progress: bool = False) -> np.ndarray:
        """uint8 (N, S, S) for condition vectors (N, D) and one int64 seed per image."""
        seeds = np.asarray(seeds, dtype=np.int64)
        if len(conditions) != len(seeds):
            raise ValueError(f"{len(conditions)} condition rows but {len(seeds)} seeds")
        size = self.config.image_size
        out = np.empty((len(seeds), size, size), dtype=np.uint8)
        chunk = max(self.settings.buckets)
        starts = range(0, len(seeds), chunk)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"{self.settings.sampler}-{self.steps}", unit="batch")
        for start in starts:
            stop = min(start + chunk, len(seeds))
            out[start:stop] = to_uint8(self.sample_batch(conditions[start:stop], seeds[start:stop]))
        return out

