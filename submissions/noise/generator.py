"""Negative control: structureless images that ignore their conditions."""

import numpy as np


class Noise:
    def generate(self, conditions, seeds, size):
        out = np.empty((len(seeds), size, size), np.uint8)
        for i, seed in enumerate(seeds):
            rng = np.random.default_rng(int(seed))
            # Blocky low-frequency noise with an image-like grey level, so it is not trivially "black".
            coarse = rng.normal(128, 40, size=(size // 4 + 1, size // 4 + 1))
            out[i] = np.clip(np.kron(coarse, np.ones((4, 4)))[:size, :size], 0, 255).astype(np.uint8)
        return out
