"""A tiny image world for unit tests of the audit machinery, independent of the phantom.

Each patient has its own smooth random background; a finding adds a bright disk at a fixed,
finding-specific place; every image of a patient adds its own noise. Conditions use the 14 labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrbench.schema import PATHOLOGIES

SIZE = 32
_yy, _xx = np.mgrid[0:SIZE, 0:SIZE]
_CENTRES = [(6 + 5 * (j % 5), 6 + 7 * (j // 5)) for j in range(len(PATHOLOGIES))]


def labels(n: int, seed: int, prevalence: float = 0.3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = (rng.random((n, len(PATHOLOGIES))) < prevalence).astype(np.float32)
    return pd.DataFrame(values, columns=list(PATHOLOGIES))


def render(conditions: pd.DataFrame, patient_seeds: np.ndarray, image_seeds: np.ndarray) -> np.ndarray:
    """uint8 (N, 32, 32): patient background + finding disks + per-image noise."""
    out = np.empty((len(conditions), SIZE, SIZE), dtype=np.uint8)
    values = conditions[list(PATHOLOGIES)].to_numpy()
    for i in range(len(conditions)):
        prng = np.random.default_rng(int(patient_seeds[i]))
        coarse = prng.normal(size=(4, 4))
        background = np.kron(coarse, np.ones((8, 8))) * 25 + 100
        img = background.copy()
        for j in np.flatnonzero(values[i] == 1):
            cy, cx = _CENTRES[j]
            img[(_yy - cy) ** 2 + (_xx - cx) ** 2 <= 6] += 80
        img += np.random.default_rng(int(image_seeds[i]) + 10**6).normal(scale=6, size=img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def world(n_patients: int = 150, images_per_patient: int = 2, seed: int = 0):
    """(images, patient_ids, labels): each patient's images share background and labels."""
    n = n_patients * images_per_patient
    patients = np.repeat(np.arange(n_patients), images_per_patient)
    lab = labels(n_patients, seed).iloc[patients].reset_index(drop=True)
    images = render(lab, patients + 1000 * seed, np.arange(n) + 10**5 * (seed + 1))
    return images, np.array([f"p{seed}-{p}" for p in patients]), lab


class DiskReader:
    """A toy 'classifier' that knows where each finding's disk is drawn: mean brightness there."""

    label_names = tuple(PATHOLOGIES)

    def predict(self, images: np.ndarray) -> np.ndarray:
        x = images.astype(np.float32)
        out = np.empty((x.shape[0], len(PATHOLOGIES)), dtype=np.float32)
        for j, (cy, cx) in enumerate(_CENTRES):
            disk = (_yy - cy) ** 2 + (_xx - cx) ** 2 <= 2
            out[:, j] = x[:, disk].mean(axis=1) / 255.0
        return out
