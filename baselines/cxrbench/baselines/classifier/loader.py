"""In-memory batch loader: gathers uint8 rows, moves them to the device, scales and resizes.

The data are uint8 arrays (or memmaps) already decoded by the ImageStore, so a batch is one
fancy-index per part plus one host-to-device copy of uint8: no worker processes, no PIL.
Each epoch's order comes from (seed, epoch) alone, so a resumed run sees the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from cxrbench.baselines.classifier.augment import to_model_input
from cxrbench.baselines.classifier.data import LabeledImages


class BatchLoader:
    """Shuffled batches over several `LabeledImages` parts, mixed in their exact proportions."""

    def __init__(self, parts: Sequence[LabeledImages], targets: Sequence[np.ndarray], batch_size: int,
                 image_size: int, device: torch.device | str = "cpu", drop_last: bool = True,
                 epoch_images: int | None = None):
        self.parts = list(parts)
        self.targets = [np.asarray(t, dtype=np.float32) for t in targets]
        self.batch_size = batch_size
        self.image_size = image_size
        self.device = torch.device(device)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self.total = int(self.offsets[-1])
        self.epoch_images = epoch_images or self.total
        self.quotas = _quotas([len(p) for p in self.parts], self.epoch_images)
        # A last partial batch of 1 would break BatchNorm; drop it when the set is big enough.
        self.drop_last = drop_last and self.epoch_images >= batch_size

    def __len__(self) -> int:
        n = self.epoch_images
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch(self, seed: int, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of (float images (B, 1, size, size) in [-1, 1], targets (B, L) with NaN = masked)."""
        order = self.epoch_order(seed, epoch)
        for i in range(len(self)):
            yield self.gather(order[i * self.batch_size:(i + 1) * self.batch_size])

    def epoch_order(self, seed: int, epoch: int) -> np.ndarray:
        """Global row positions of one epoch, shuffled; a function of (seed, epoch) alone.

        Full passes: a permutation of every row. With `epoch_images`, each part contributes its
        exact quota (proportional to its size) by walking an endless chain of per-part
        permutations, so every row is used before any repeats and the mix is exact per epoch.
        """
        rng = np.random.default_rng([seed, epoch, 0xC1A55])
        if self.epoch_images == self.total:
            return rng.permutation(self.total)
        chosen = [np.zeros(0, dtype=np.int64)]
        for p, quota in enumerate(self.quotas):
            if quota == 0:
                continue
            n, start = len(self.parts[p]), epoch * quota  # this epoch's slice of the part's stream
            cycles = range(start // n, (start + quota - 1) // n + 1)
            chain = np.concatenate([np.random.default_rng([seed, p, c, 0x5EED]).permutation(n) for c in cycles])
            chosen.append(self.offsets[p] + chain[start % n:start % n + quota])
        return rng.permutation(np.concatenate(chosen))

    def gather(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows `index` (global positions over the parts), in that order."""
        part_of = np.searchsorted(self.offsets, index, side="right") - 1
        images, targets, where = [], [], []
        for p in np.unique(part_of):
            sel = np.flatnonzero(part_of == p)
            rows = index[sel] - self.offsets[p]
            ordering = np.argsort(rows, kind="stable")  # sorted reads are kinder to a memmap
            rows, sel = rows[ordering], sel[ordering]
            pixels = torch.from_numpy(self.parts[p].images[rows])  # fancy indexing copies
            pixels = pixels.to(self.device, non_blocking=True)
            images.append(to_model_input(pixels, self.image_size))
            targets.append(torch.from_numpy(self.targets[p][rows]))
            where.append(sel)
        back = torch.from_numpy(np.argsort(np.concatenate(where), kind="stable"))
        x = torch.cat(images)[back.to(self.device)]
        y = torch.cat(targets)[back].to(self.device, non_blocking=True)
        return x, y


def _quotas(sizes: list[int], total: int) -> list[int]:
    """Split `total` over parts proportionally to `sizes` (largest remainder, ties to the first)."""
    sizes_arr = np.asarray(sizes, dtype=np.float64)
    if sizes_arr.sum() == 0:
        return [0] * len(sizes)
    exact = total * sizes_arr / sizes_arr.sum()
    quotas = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quotas), kind="stable")[: total - quotas.sum()]:
        quotas[i] += 1
    return quotas.tolist()


def iterate_images(images: np.ndarray, batch_size: int, image_size: int,
                   device: torch.device | str) -> Iterator[torch.Tensor]:
    """Unshuffled model-input batches of an uint8 (N, S, S) array, for prediction."""
    for start in range(0, images.shape[0], batch_size):
        chunk = torch.from_numpy(np.array(images[start:start + batch_size]))  # copy: memmaps are read-only
        yield to_model_input(chunk.to(device, non_blocking=True), image_size)
