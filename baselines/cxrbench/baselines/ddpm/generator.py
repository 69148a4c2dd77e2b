"""`ReferenceGenerator`: the reference DDPM as the runner sees it — condition rows and seeds in,
uint8 images out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cxrbench.baselines.ddpm.conditioning import encode_conditions
from cxrbench.baselines.ddpm.model import (
    PIPELINE_INDEX,
    ConditionalUNet,
    is_weights_folder,
    load_pretrained,
    weight_files,
)
from cxrbench.baselines.ddpm.presets import PRESETS
from cxrbench.baselines.ddpm.sampling import Sampler, SamplerSettings
from cxrbench.errors import ConfigError, SubmissionError

#: Shipped weights, one folder per preset: baselines/cxrbench/baselines/weights/<preset>/
WEIGHTS_ROOT = Path(__file__).resolve().parents[1] / "weights"


def shipped_weights() -> list[str]:
    """Names of the weights folders cxrbench ships (`weights/<name>/`): an architecture preset's own
    (`tiny-32`) and further trainings of one (`tiny-32-p1k`: its MODEL_CARD.md says of what)."""
    return sorted(p.name for p in WEIGHTS_ROOT.iterdir() if is_weights_folder(p)) if WEIGHTS_ROOT.is_dir() else []


def resolve_weights(dir_or_preset: str | Path) -> Path:
    """A weights folder, or the name of shipped weights (a preset's, or another shipped folder's)."""
    path = Path(dir_or_preset)
    if is_weights_folder(path):
        return path
    name = str(dir_or_preset)
    if name in shipped_weights():
        return WEIGHTS_ROOT / name
    if name in PRESETS:
        raise ConfigError(
            f"no shipped weights for preset {name!r} (looked in {WEIGHTS_ROOT / name}); train them with "
            f"`cxrbench train-generator --preset {name} --out DIR` and pass DIR"
        )
    if path.exists():
        raise ConfigError(f"{path}: not a generator weights folder (no {PIPELINE_INDEX})")
    raise ConfigError(f"{dir_or_preset!r} is neither a weights folder nor shipped weights "
                      f"(shipped: {', '.join(shipped_weights()) or 'none'}; presets: {', '.join(PRESETS)})")


class ReferenceGenerator:
    """Conditional DDPM + sampler. `generate(conditions, seeds, size)` → uint8 (N, size, size);
    image i depends only on (seeds[i], conditions row i)."""

    def __init__(self, model: ConditionalUNet, device: str = "cpu", sampler: str = "dpmpp-2m",
                 steps: int | None = None, guidance: float = 0.0, batch_size: int = 64,
                 dtype: str | None = None, compile_mode: str | None = "auto", threads: int | None = None,
                 source: Path | None = None) -> None:
        self.source = source
        # CPU threads used inside generate() (restored after); on a shared machine 1 is fastest
        self.threads = threads
        self.settings = SamplerSettings(sampler=sampler, steps=steps, guidance=guidance,
                                        buckets=(int(batch_size),), dtype=parse_dtype(dtype),
                                        compile_mode=compile_mode)
        self.sampler = Sampler(model, self.settings, device=device)
        self.config = model.config

    @classmethod
    def from_pretrained(cls, dir_or_preset: str | Path, device: str = "cpu", sampler: str = "dpmpp-2m",
                        steps: int | None = None, guidance: float = 0.0, **kwargs) -> "ReferenceGenerator":
        """Load a weights folder (a `CxrDDPMPipeline` folder, or the flat layout) or a shipped preset by name."""
        from cxrbench.baselines.ddpm.model_card import verify_against_card

        directory = resolve_weights(dir_or_preset)
        verify_against_card(directory)  # shipped weights are exactly those their model card describes
        return cls(load_pretrained(directory), device=device, sampler=sampler, steps=steps,
                   guidance=guidance, source=directory, **kwargs)

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def identity(self) -> str:
        """What determines the pixels: weights hash, sampler, steps, guidance, device type, dtype."""
        from cxrbench.data.file_digest import file_sha256

        weights = "in-memory"
        if self.source:
            weights = "+".join(file_sha256(f)[:16] for f in weight_files(self.source))
        s = self.sampler
        # the stochastic sampler's images are those of the integer-exact counter noise (`noise.py`)
        noise = ":exact-noise" if s.plan.stochastic else ""
        return (f"{self.config.preset}:{weights}:{s.settings.sampler}-{s.steps}:g{s.settings.guidance:g}:"
                f"{s.device.type}:{str(s.dtype).removeprefix('torch.')}:b{max(s.settings.buckets)}{noise}")

    def generate(self, conditions: pd.DataFrame, seeds: np.ndarray, size: int | None = None,
                 progress: bool = False) -> np.ndarray:
        """uint8 (N, size, size). Images are drawn at the model's resolution and resized
        (antialiased bilinear) when `size` differs from it."""
        seeds = np.asarray(seeds)
        if seeds.ndim != 1 or not np.issubdtype(seeds.dtype, np.integer):
            raise SubmissionError(f"seeds must be a 1-D integer array, got {seeds.dtype} {seeds.shape}")
        if len(seeds) != len(conditions):
            raise SubmissionError(f"{len(conditions)} condition rows but {len(seeds)} seeds")
        size = self.image_size if size is None else int(size)
        if not 8 <= size <= 1024:
            raise ConfigError(f"image size must be 8..1024, got {size}")
        vectors = encode_conditions(conditions.reset_index(drop=True))
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        try:
            images = self.sampler.sample(vectors, seeds.astype(np.int64), progress=progress)
        finally:
            torch.set_num_threads(before)
        if size != self.image_size:
            images = resize_uint8(images, size)
        return images


DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """None (bf16 on CUDA, fp32 on CPU), a torch dtype, or one of `DTYPES`' names."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[str(dtype)]
    except KeyError:
        raise ConfigError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}") from None


def resize_uint8(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, S, S) → uint8 (N, size, size), antialiased bilinear."""
    x = torch.from_numpy(images).float()[:, None]
    y = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                        align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()
