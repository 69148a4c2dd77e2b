"""The generator class of the shipped reference-DDPM entries: shipped weights at one sampler setting.

Each entry's `generator.py` (`submissions/reference-ddpm*/`, `submissions/label-shuffled/`)
subclasses it and names its weights and sampler, so the entries differ only in those settings.
`from_pretrained` checks the weights against their model card's sha256, and an entry's hash covers
them (`reference_weights` in its submission.yaml).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrbench.baselines.ddpm.generator import ReferenceGenerator


class ShippedGenerator:
    WEIGHTS = "tiny-32"
    SAMPLER = "dpmpp-2m"
    STEPS = 10
    GUIDANCE = 0.0
    #: on a CPU: about twice as fast as fp32 and within one grey level of it (docs/ddpm.md)
    CPU_DTYPE = "bfloat16"

    def __init__(self, device: str = "cpu"):
        self.model = ReferenceGenerator.from_pretrained(self.WEIGHTS, device=device, sampler=self.SAMPLER,
                                                       steps=self.STEPS, guidance=self.GUIDANCE,
                                                       dtype=self.CPU_DTYPE if device == "cpu" else None)

    def conditions_for(self, conditions: pd.DataFrame, seeds: np.ndarray) -> pd.DataFrame:
        """The rows the images are drawn from (a control may change them); the requested ones by default."""
        return conditions

    def generate(self, conditions: pd.DataFrame, seeds: np.ndarray, size: int) -> np.ndarray:
        return self.model.generate(self.conditions_for(conditions, seeds), seeds, size)
