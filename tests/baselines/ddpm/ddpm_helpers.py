"""Small random-init models and condition tables for the DDPM tests (no shipped weights needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cxrbench.baselines.ddpm.model import build_model
from cxrbench.baselines.ddpm.presets import GeneratorConfig
from cxrbench.schema import PATHOLOGIES

MICRO = GeneratorConfig(preset="micro-16", image_size=16, block_out_channels=(8, 16),
                        layers_per_block=1, attention_levels=(False, True), attention_head_dim=8,
                        norm_num_groups=4)


def random_model(config: GeneratorConfig = MICRO, seed: int = 0):
    """A random-init model whose outputs are far from zero (so tests can tell samplers apart)."""
    torch.manual_seed(seed)
    model = build_model(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def condition_table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.choice([1.0, 0.0, -1.0, np.nan], size=(n, len(PATHOLOGIES)))
    df = pd.DataFrame(values, columns=list(PATHOLOGIES))
    df["age"] = rng.integers(18, 95, n).astype(float)
    df["sex"] = rng.choice(["F", "M", "U"], n)
    df["race"] = rng.choice(["White", "Black", "Asian", "Other/Unknown"], n)
    df["view"] = rng.choice(["PA", "AP"], n)
    df["site"] = "site-a"
    return df



def two_class_images(n: int = 40, seed: int = 0):
    """16-px uint8 images a model can learn: bright top half vs bright bottom half, told apart by
    the first condition feature; returns (images (n, 16, 16), conditions (n, CONDITION_DIM))."""
    from cxrbench.baselines.ddpm.conditioning import CONDITION_DIM

    rng = np.random.default_rng(seed)
    images = np.full((n, 16, 16), 40, np.uint8)
    cls = rng.integers(0, 2, n)
    images[cls == 0, :8] = 215
    images[cls == 1, 8:] = 215
    conds = np.zeros((n, CONDITION_DIM), np.float32)
    conds[:, 0] = cls
    return images, torch.from_numpy(conds)
