"""Feature spaces the audit measures in, and a cache so each image set is embedded once.

A feature extractor maps uint8 images (N, S, S) to float32 features (N, D). It carries a `name`
and a `version`; together with a content hash of the image set they key the cache, so a changed
extractor or a changed image set never reuses stale features.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from cxrbench.data.atomic import atomic_write
from cxrbench.data.preprocess import check_images
from cxrbench.errors import DataError


@runtime_checkable
class FeatureExtractor(Protocol):
    """Maps uint8 images (N, S, S) to float32 features (N, D); same input → same output."""

    name: str
    version: str

    def __call__(self, images: np.ndarray) -> np.ndarray: ...


def content_hash(images: np.ndarray, chunk: int = 4096) -> str:
    """sha256 over an image set's shape, dtype and pixels (read in chunks, so memmaps work)."""
    h = hashlib.sha256(f"{images.shape}|{images.dtype}".encode())
    for start in range(0, images.shape[0], chunk):
        h.update(np.ascontiguousarray(images[start:start + chunk]).tobytes())
    return h.hexdigest()


class PixelExtractor:
    """Downsampled, per-image standardised pixels: the space for near-duplicate checks.

    Each image is area-averaged to `side` x `side`, centred and scaled to unit norm, so the
    squared distance between two images is 2 x (1 - their pixel correlation): insensitive to
    global brightness and contrast, sensitive to content. A flat image maps to the zero vector.
    """

    def __init__(self, side: int = 32, batch_size: int = 1024):
        if side < 4:
            raise ValueError("side must be at least 4")
        self.side = side
        self.batch_size = batch_size
        self.name = f"pixels-{side}"
        self.version = "1"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        check_images(images, "images")
        out = np.empty((images.shape[0], self.side * self.side), dtype=np.float32)
        for start in range(0, images.shape[0], self.batch_size):
            x = torch.from_numpy(np.array(images[start:start + self.batch_size], dtype=np.float32))
            x = F.adaptive_avg_pool2d(x[:, None], self.side).flatten(1)
            x = x - x.mean(dim=1, keepdim=True)
            norm = x.norm(dim=1, keepdim=True)
            x = torch.where(norm > 1e-6, x / norm.clamp_min(1e-6), torch.zeros_like(x))
            out[start:start + x.shape[0]] = x.numpy()
        return out


class ClassifierFeatures:
    """The penultimate layer of a trained classifier (`TrainedClassifier.features`) as a feature space.

    `version` must identify the weights (the reference extractor uses their sha256), because the
    cache trusts it.
    """

    def __init__(self, classifier, name: str, version: str, batch_size: int = 512):
        self.classifier = classifier
        self.name = name
        self.version = version
        self.batch_size = batch_size

    def __call__(self, images: np.ndarray) -> np.ndarray:
        check_images(images, "images")
        parts = [np.asarray(self.classifier.features(np.ascontiguousarray(images[s:s + self.batch_size])),
                            dtype=np.float32)
                 for s in range(0, images.shape[0], self.batch_size)]
        return np.concatenate(parts, axis=0)


class FeatureCache:
    """Features keyed by (extractor name, extractor version, content hash of the image set).

    Kept in memory, and under `root` as .npy files (written atomically) when a root is given.
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else None
        self._memory: dict[tuple[str, str, str], np.ndarray] = {}
        self.computed = 0  # how many image sets were actually embedded (for tests and logs)

    def key(self, extractor: FeatureExtractor, images: np.ndarray) -> tuple[str, str, str]:
        return (extractor.name, extractor.version, content_hash(images))

    def _path(self, key: tuple[str, str, str]) -> Path:
        name, version, digest = key
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{name}@{version}")
        return self.root / safe / f"{digest}.npy"

    def get(self, extractor: FeatureExtractor, images: np.ndarray, what: str = "images") -> np.ndarray:
        """Features of `images` under `extractor`, computed at most once per cache."""
        check_images(images, what)
        key = self.key(extractor, images)
        if key in self._memory:
            return self._memory[key]
        if self.root is not None and self._path(key).exists():
            feats = np.load(self._path(key))
            self._memory[key] = feats
            return feats
        feats = np.asarray(extractor(images), dtype=np.float32)
        if feats.ndim != 2 or feats.shape[0] != images.shape[0]:
            raise DataError(f"feature extractor {extractor.name}@{extractor.version} returned shape "
                            f"{feats.shape} for {images.shape[0]} images; expected (N, D)")
        if not np.isfinite(feats).all():
            raise DataError(f"feature extractor {extractor.name}@{extractor.version} returned non-finite "
                            f"features for {what}")
        self.computed += 1
        self._memory[key] = feats
        if self.root is not None:
            atomic_write(self._path(key), lambda fh: np.save(fh, feats))
        return feats
