"""Sampling the reference DDPM fast, without changing what each image is.

Each image depends only on (its seed, its condition): its starting noise comes from its own
`torch.Generator` seeded with its seed, DDPM's per-step noise is a counter-based hash of
(seed, step, pixel) (`noise.py`), every batch is padded to a fixed bucket size, and all layers
act per sample. So results do not depend on batch size or on how the work is split.

A batch runs in two phases. `stage` does all host work once: padding, starting noise, condition
embeddings, timesteps and per-step solver coefficients, copied to the device from pinned memory
without blocking. `run` is the step loop and does device work only — no host→device copy, no
host sync (every scheduler scalar is a row of a device tensor; `solvers.py`).

GPU path (`device="cuda"`): bf16 weights and activations, channels_last, `torch.compile` of the
denoiser (UNet + classifier-free guidance) with static shapes, CUDA graphs via
`mode="reduce-overhead"`, and the solver step compiled into one fused kernel. The scheduler
state `x` stays fp32. Compilation happens last, after dtype and layout are final (casting a
compiled module crashes). `device="meta"` runs the same path without data: the tests use it as
a CUDA stand-in that counts host→device copies.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from cxrbench.baselines.ddpm.acceleration import check_compile, to_device
from cxrbench.baselines.ddpm.model import ConditionalUNet
from cxrbench.baselines.ddpm.noise import counter_normal, image_keys, quantile_table, seed_words
from cxrbench.baselines.ddpm.schedules import check_steps
from cxrbench.baselines.ddpm.solvers import apply_step, step_plan
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
    #: "auto" = "reduce-overhead" (CUDA graphs) on CUDA, eager elsewhere; None = eager
    compile_mode: str | None = "auto"
    #: None = channels_last on accelerators (NCHW on CPU); False forces NCHW (the study's eager baseline)
    channels_last: bool | None = None


def image_generators(seeds: np.ndarray) -> list[torch.Generator]:
    """One CPU generator per image, seeded with that image's seed."""
    return [torch.Generator("cpu").manual_seed(int(s)) for s in np.asarray(seeds, dtype=np.int64)]


def initial_noise(generators: list[torch.Generator], size: int) -> torch.Tensor:
    """x_T for each image from its own generator: float32 (N, 1, size, size) on the CPU."""
    return torch.cat([torch.randn((1, 1, size, size), generator=g) for g in generators])


def step_noise(keys: torch.Tensor, step: torch.Tensor, pixels: torch.Tensor, size: int,
               table: torch.Tensor | None = None) -> torch.Tensor:
    """DDPM's noise for one step: float32 (N, 1, size, size), a function of (seed, step, pixel);
    `table`: `quantile_table()` already on the device (default: loaded here)."""
    return counter_normal(keys, step, pixels, table).view(-1, 1, size, size)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] float (N, 1, S, S) → uint8 (N, S, S)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0].cpu().numpy()


@dataclass
class StagedBatch:
    """Everything the step loop reads, already on the device."""

    n: int  # real rows; the rest of the bucket is padding
    x: torch.Tensor  # float32 (B, 1, S, S) starting noise
    emb: torch.Tensor  # condition embeddings (B or 2B, D); 2B with guidance
    timesteps: torch.Tensor  # int64 (steps, B) (2B with guidance)
    keys: torch.Tensor | None  # int64 (B, 1) per-image noise keys (DDPM only)


class Sampler:
    """Draws images from a `ConditionalUNet` with one of the samplers of `solvers.py`.

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
        accelerated = self.device.type != "cpu"  # cuda, or meta standing in for it
        self.dtype = settings.dtype or (torch.bfloat16 if accelerated else torch.float32)
        self.channels_last = accelerated if settings.channels_last is None else settings.channels_last
        mode = settings.compile_mode
        if mode == "auto":
            mode = "reduce-overhead" if self.device.type == "cuda" else None
        check_compile(mode, self.device)
        self.compile_mode = mode
        self._pixels = to_device(torch.arange(self.config.image_size ** 2, dtype=torch.int64), self.device)
        self._quantiles = to_device(quantile_table(), self.device)
        self._set_plan(settings.sampler, self.steps)
        # dtype and memory format are final before compiling; `Module.to` casts in place, so a
        # cast works on a copy: two Samplers of one model (fp32 and bf16, the benchmark's fp16
        # baseline and bf16 path) must not change each other's weights
        first = next(model.parameters())
        if (first.dtype, first.device) != (self.dtype, self.device) or self.channels_last:
            model = copy.deepcopy(model)
        model = model.eval().requires_grad_(False).to(self.device, dtype=self.dtype)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._denoise = self._denoise_eager
        if mode is not None:
            self._denoise = torch.compile(self._denoise_eager, mode=mode, dynamic=False, fullgraph=False)

    def _set_plan(self, sampler: str, steps: int) -> None:
        """Solver plan, staged once on the device: coefficients, timesteps, step counters."""
        self.plan = step_plan(sampler, self.config, steps)
        self._active = self.plan.active  # static per plan: which terms the step computes
        self._coef = to_device(torch.from_numpy(self.plan.coefficients).float(), self.device)
        self._timesteps = to_device(torch.from_numpy(self.plan.timesteps), self.device)
        self._step_ids = to_device(torch.arange(steps, dtype=torch.int64), self.device)
        self._step = self._step_eager
        if self.compile_mode is not None:
            # the solver step is a few elementwise ops: one fused kernel, no CUDA graph needed
            self._step = torch.compile(self._step_eager, dynamic=False, fullgraph=True)

    def for_sampler(self, sampler: str, steps: int | None = None) -> "Sampler":
        """The same network (and compiled denoiser: no second compile) with another solver."""
        other = copy.copy(self)
        other.steps = check_steps(sampler, steps, self.config)
        other.settings = dataclasses.replace(self.settings, sampler=sampler, steps=other.steps)
        other._set_plan(sampler, other.steps)
        return other

    # -- one network evaluation (compiled on GPU) --------------------------------------------
    def _denoise_eager(self, x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        xin = x.to(self.dtype)
        if self.channels_last:
            xin = xin.contiguous(memory_format=torch.channels_last)
        if self.settings.guidance == 0:
            return self.model(xin, t, emb).float()
        out = self.model(torch.cat([xin, xin]), t, emb).float()
        cond, uncond = out.chunk(2)
        return cond + self.settings.guidance * (cond - uncond)

    # -- one solver step (device only) -------------------------------------------------------
    def _step_eager(self, coef, x, v, history, keys, step_id):
        noise = None
        if keys is not None:
            noise = step_noise(keys, step_id, self._pixels, self.config.image_size, self._quantiles)
        return apply_step(self._active, coef, x, v, history, noise)

    def bucket(self, n: int) -> int:
        fits = [b for b in sorted(self.settings.buckets) if b >= n]
        return fits[0] if fits else max(self.settings.buckets)

    @torch.inference_mode()
    def stage(self, conditions: torch.Tensor, seeds: np.ndarray) -> StagedBatch:
        """Host work for one batch of n ≤ the largest bucket, done once before the loop."""
        n = len(seeds)
        size_b = self.bucket(n)
        if n > size_b:
            raise ValueError(f"batch of {n} exceeds the largest bucket {size_b}")
        pad = size_b - n
        seeds = np.asarray(seeds, dtype=np.int64)
        conditions = torch.as_tensor(conditions, dtype=torch.float32)
        if pad:  # padding rows repeat the last row; their outputs are dropped
            seeds = np.concatenate([seeds, np.repeat(seeds[-1:], pad)])
            conditions = torch.cat([conditions, conditions[-1:].expand(pad, -1)])
        x = to_device(initial_noise(image_generators(seeds), self.config.image_size), self.device)
        enc = self.model.condition_encoder
        emb = enc(to_device(conditions, self.device).to(self.dtype))
        halves = 1
        if self.settings.guidance != 0:
            emb = torch.cat([emb, enc.unconditional(size_b).to(emb.dtype)])
            halves = 2
        timesteps = self._timesteps[:, None].expand(-1, halves * size_b).contiguous()
        keys = image_keys(to_device(seed_words(seeds), self.device)) if self.plan.stochastic else None
        return StagedBatch(n, x, emb, timesteps, keys)

    @torch.inference_mode()
    def run(self, staged: StagedBatch, steps: int | None = None) -> torch.Tensor:
        """The step loop: float32 (B, 1, S, S) in [-1, 1] for the whole bucket, device work only.
        `steps` < the plan's stops early (warm-up)."""
        x = staged.x
        # three distinct buffers: aliased inputs at step 0 would make the compiled step recompile at step 1
        history = (torch.zeros_like(x), torch.zeros_like(x), torch.zeros_like(x))
        graphs = self.compile_mode in ("reduce-overhead", "max-autotune")
        for i in range(self.steps if steps is None else min(steps, self.steps)):
            if graphs:  # the previous step's graph outputs are dead: let CUDA graphs reuse them
                torch.compiler.cudagraph_mark_step_begin()
            v = self._denoise(x, staged.timesteps[i], staged.emb).clone()  # clone: graph outputs are reused
            x, history = self._step(self._coef[i], x, v, history, staged.keys, self._step_ids[i])
        return x

    def warmup(self) -> None:
        """Compile (and record CUDA graphs for) every bucket ahead, so no batch compiles later.
        Three steps: the first calls trace and compile, later ones record and replay graphs."""
        if self.compile_mode is None:
            return
        cond = torch.zeros((1, self.model.condition_encoder.mlp[0].in_features))
        for bucket in sorted(self.settings.buckets):
            self.run(self.stage(cond.expand(bucket, -1), np.zeros(bucket, dtype=np.int64)), steps=3)

    def sample_batch(self, conditions: torch.Tensor, seeds: np.ndarray) -> torch.Tensor:
        """Float32 images in [-1, 1] (n, 1, S, S) for n ≤ the largest bucket."""
        n = len(seeds)
        if n == 0:
            size = self.config.image_size
            return torch.zeros((0, 1, size, size))
        staged = self.stage(conditions, seeds)
        try:
            x = self.run(staged)
        except torch.OutOfMemoryError:
            raise ConfigError(self._oom_message(n)) from None
        return x[:n].float()

    def _oom_message(self, n: int) -> str:
        bucket = self.bucket(n)
        rows = bucket * (2 if self.settings.guidance else 1)
        smaller = max(1, bucket // 2)
        return (f"{self.device.type} out of memory sampling a batch of {n} images padded to bucket {bucket} "
                f"({rows} rows per forward{' with guidance' if self.settings.guidance else ''}, preset "
                f"{self.config.preset!r}); use batch_size {smaller} (bucket {smaller}) or smaller")

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
