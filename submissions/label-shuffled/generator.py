"""Control: the reference DDPM with conditions permuted, so images no longer match their labels.

The permutation is a function of each row's seed (rows sorted by seed, conditions rolled by a
third of the batch), so the output does not depend on batch size within a shard of the runner.
"""

import numpy as np

from cxrbench.baselines.ddpm import ReferenceGenerator

PRESET = "tiny-32"


class Shuffled:
    def __init__(self, device: str = "cpu"):
        self.model = ReferenceGenerator.from_pretrained(PRESET, device=device, sampler="dpmpp-2m", steps=10,
                                                       dtype="bfloat16" if device == "cpu" else None)

    def generate(self, conditions, seeds, size):
        order = np.argsort(seeds, kind="stable")
        donor = np.empty(len(seeds), dtype=np.int64)
        donor[order] = np.roll(order, max(1, len(seeds) // 3))
        shuffled = conditions.iloc[donor].reset_index(drop=True)
        return self.model.generate(shuffled, seeds, size)
