"""Held-out eval images reach a classifier as one shuffled pool, in an order drawn afresh per run.

Per eval set and sorted by image id, a submission could tell the sets apart by their counts and
line its outputs up with anything it can recompute. In the pool every eval set's images are
mixed in a permutation drawn from the OS's CSPRNG for this run only (never stored), cut into
shards with neutral names (`pool-0`, `pool-1`, ...) of one size but the last, so the only count a
submission learns is the total; the scorer maps each probability back to its eval set and row.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np

#: images per pool shard (the last one holds the rest)
SHARD_IMAGES = 4096


@dataclass(frozen=True)
class EvalPool:
    """`order[k]` is the pooled index (eval sets concatenated in their order) shown at position k."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    order: np.ndarray
    shard_images: int = SHARD_IMAGES

    @property
    def total(self) -> int:
        return int(sum(self.sizes))

    def shards(self) -> list[tuple[str, int, int]]:
        """(shard name, first position, end position) in pool order."""
        return [(f"pool-{i}", start, min(start + self.shard_images, self.total))
                for i, start in enumerate(range(0, self.total, self.shard_images))]

    def images(self, pixels: dict[str, np.ndarray], start: int, stop: int) -> np.ndarray:
        """The images at pool positions start..stop, gathered from each eval set's pixels."""
        offsets = np.cumsum((0,) + self.sizes)
        chosen = self.order[start:stop]
        which = np.searchsorted(offsets, chosen, side="right") - 1
        first = np.asarray(pixels[self.names[0]])
        out = np.empty((len(chosen),) + first.shape[1:], dtype=first.dtype)
        for s, name in enumerate(self.names):
            here = which == s
            if here.any():
                out[here] = np.asarray(pixels[name])[chosen[here] - offsets[s]]
        return out

    def split(self, pooled: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs in pool order (total, ...) back to each eval set, in its own row order."""
        by_index = np.empty_like(pooled)
        by_index[self.order] = pooled
        offsets = np.cumsum((0,) + self.sizes)
        return {name: by_index[offsets[s]:offsets[s + 1]] for s, name in enumerate(self.names)}


def draw_pool(sizes: dict[str, int], shard_images: int = SHARD_IMAGES) -> EvalPool:
    """A fresh secret order of the eval sets' images (a new one on every call)."""
    total = int(sum(sizes.values()))
    rng = np.random.default_rng(secrets.randbits(128))
    return EvalPool(tuple(sizes), tuple(int(n) for n in sizes.values()), rng.permutation(total), shard_images)
