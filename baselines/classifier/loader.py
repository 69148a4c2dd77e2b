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
                 image_size: int, device: torch.device | str = "cpu", drop_last: bool = True):
        self.parts = list(parts)
        self.targets = [np.asarray(t, dtype=np.float32) for t in targets]
        self.batch_size = batch_size
        self.image_size = image_size
        self.device = torch.device(device)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self.total = int(self.offsets[-1])
        # A last partial batch of 1 would break BatchNorm; drop it when the set is big enough.
        self.drop_last = drop_last and self.total >= batch_size

    def __len__(self) -> int:
        return self.total // self.batch_size if self.drop_last else -(-self.total // self.batch_size)

    def epoch(self, seed: int, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of (float images (B, 1, size, size) in [-1, 1], targets (B, L) with NaN = masked)."""
        order = np.random.default_rng([seed, epoch, 0xC1A55]).permutation(self.total)
        for i in range(len(self)):
            yield self.gather(order[i * self.batch_size:(i + 1) * self.batch_size])

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


def iterate_images(images: np.ndarray, batch_size: int, image_size: int,
                   device: torch.device | str) -> Iterator[torch.Tensor]:
    """Unshuffled model-input batches of an uint8 (N, S, S) array, for prediction."""
    for start in range(0, images.shape[0], batch_size):
        chunk = torch.from_numpy(np.array(images[start:start + batch_size]))  # copy: memmaps are read-only
        yield to_model_input(chunk.to(device, non_blocking=True), image_size)
