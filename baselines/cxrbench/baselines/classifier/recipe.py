"""The reference classifier recipe: one versioned, frozen config per preset.

Every generator is scored by training this recipe on its synthetic data, so a recipe never
changes silently: any change to a preset's fields must bump its `version`, and
`Recipe.fingerprint()` (hash of every field) goes into each result next to the version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cxrbench.errors import ConfigError


class Recipe(BaseModel):
    """Everything that decides how the reference classifier is trained (except data and seed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str = Field(description="bumped whenever any field of this preset changes")
    backbone: str = Field(description="a name from cxrbench.baselines.classifier.BACKBONES")
    pretrained: str | None = Field(
        None,
        description="None = from scratch; a local .safetensors path; or 'timm-cache' = timm weights "
        "already in the local Hugging Face cache (never downloaded)",
    )
    image_size: int = Field(ge=16, le=1024)
    batch_size: int = Field(ge=1)
    max_epochs: int = Field(ge=1)
    epoch_images: int | None = Field(
        None, ge=1,
        description="images per epoch, drawn from each training part in exact proportion (every image "
        "before any repeats); None = one full pass. Fixes the compute of a run whatever the "
        "supplement ratio",
    )
    selection: Literal["final", "best_val"] = Field(
        "final",
        description="which weights a run returns: 'final' = the last epoch's (EMA) weights after a fixed-length "
        "schedule; 'best_val' = the epoch with the best validation macro AUROC (early stopping). Picking an "
        "epoch per seed made the seed-to-seed sd of test AUROC 5x larger (measured, docs/stats.md)",
    )
    patience: int | None = Field(
        None, ge=1,
        description="with selection='best_val': epochs without a better validation macro AUROC before stopping",
    )
    optimizer: Literal["adamw", "lion"] = "adamw"
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0)
    ema_decay: float | None = Field(None, description="timm ModelEmaV3 decay (with warm-up); None = off")
    drop_rate: float = Field(0.0, ge=0, lt=1)
    # Augmentation, applied batched on the training device.
    hflip_p: float = Field(0.0, ge=0, le=1)
    rotate_deg: float = Field(0.0, ge=0)
    translate_frac: float = Field(0.0, ge=0, le=0.5)
    scale_range: float = Field(0.0, ge=0, lt=1, description="scale drawn from 1 ± scale_range")
    noise_std: float = Field(0.0, ge=0, description="Gaussian noise std on the [-1, 1] scale")
    mixup_alpha: float = Field(0.0, ge=0, description="0 = no mixup")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    # Targets.
    uncertainty_policy: Literal["ignore", "zeros", "ones"] = Field(
        "ignore", description="default for -1 labels; the task's policy overrides it"
    )
    unmentioned: Literal["negative", "mask"] = Field(
        "negative",
        description="NaN (not mentioned) labels: 'negative' = the CheXpert training convention "
        "(blank means 0), 'mask' = left out of the loss",
    )
    bf16_autocast: bool = Field(True, description="bf16 autocast on CUDA; ignored on a CPU")
    eval_batch_size: int = Field(256, ge=1)

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        from cxrbench.baselines.classifier.backbones import BACKBONES

        if value not in BACKBONES:
            raise ValueError(f"unknown backbone {value!r}; known: {', '.join(BACKBONES)}")
        return value

    def fingerprint(self) -> str:
        """sha256 (first 16 hex) of every field: two results with the same one used the same recipe."""
        blob = json.dumps(self.model_dump(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def identity(self) -> dict:
        """What a result records about the recipe: name, version, fingerprint."""
        return {"name": self.name, "version": self.version, "fingerprint": self.fingerprint()}


PRESETS: dict[str, dict] = {
    # Tiny CNN at 32 px: one run on ~2k phantom images in ~10 s on one CPU thread (the demo).
    # Version 3: a fixed-length schedule (12 epochs) keeping the final EMA weights; validation only
    # monitors (and catches divergence). Version 2 picked the best validation epoch per seed
    # (patience 3), which made the per-seed sd of macro AUROC 0.020-0.025, most of the noise of a
    # comparison (docs/stats.md). Version 2: full passes (epoch_images=None), as the study trained
    # each set to convergence; version 1 capped every epoch at 2048 images, which hid the effect
    # of extra synthetic images (measured). A run costs time in proportion to its training set.
    "quick": dict(
        name="quick", version="3", backbone="cxr_tiny", image_size=32, batch_size=64,
        max_epochs=12, epoch_images=None, selection="final", optimizer="adamw", lr=3e-3, weight_decay=0.05,
        schedule="cosine", warmup_epochs=0.5, ema_decay=0.99, hflip_p=0.0, rotate_deg=5.0,
        translate_frac=0.04, scale_range=0.05, noise_std=0.02, mixup_alpha=0.0,
        label_smoothing=0.0,
    ),
    # The study's recipe: ConvNeXt-Base, 1-channel stem, 256 px, Lion, EMA, mixup; for GPUs.
    # Version 2: fixed-length schedule, final EMA weights (as quick@3); version 1 early-stopped.
    "standard": dict(
        name="standard", version="2", backbone="convnext_base", image_size=256, batch_size=64,
        max_epochs=30, selection="final", optimizer="lion", lr=5e-5, weight_decay=0.5,
        schedule="cosine", warmup_epochs=1.0, ema_decay=0.999, drop_rate=0.1, hflip_p=0.5,
        rotate_deg=10.0, translate_frac=0.06, scale_range=0.1, noise_std=0.02, mixup_alpha=0.2,
        label_smoothing=0.05,
    ),
}


def get_recipe(name: str, **overrides) -> Recipe:
    """A preset by name (`quick`, `standard`), optionally with fields overridden.

    Overrides keep the preset's version but change its fingerprint; a result records both.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown classifier recipe {name!r}; known: {', '.join(PRESETS)}")
    return recipe_from_dict({**PRESETS[name], **overrides}, where=f"recipe {name!r}")


def recipe_from_dict(fields: dict, *, where: str = "recipe") -> Recipe:
    """Validate a recipe dict (a preset, a saved config), turning pydantic errors into ConfigError."""
    try:
        return Recipe(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'recipe'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(f"{where}: {problems}") from None
