"""The only images a reference DDPM may learn from: one source's real *training* split.

(DESIGN.md: a generator is trained only on the task's real training split.) The fingerprint —
sha256 over the sorted training image ids — goes into the model card so anyone can check which
images a shipped model saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrbench.baselines.ddpm.conditioning import CONDITION_COLUMNS
from cxrbench.errors import DataError


@dataclass(frozen=True)
class TrainingData:
    images: np.ndarray          # uint8 (N, S, S)
    conditions: pd.DataFrame    # condition columns of the same rows
    image_ids: np.ndarray       # str (N,)
    description: str
    patients: int = 0           # distinct patients of those rows (what a submission declares it learned from)

    @property
    def fingerprint(self) -> str:
        return ids_fingerprint(self.image_ids)

    @property
    def pixels_sha256(self) -> str:
        """sha256 of the uint8 training pixels in row order (catches a changed renderer/decoder)."""
        return hashlib.sha256(np.ascontiguousarray(self.images).tobytes()).hexdigest()


def ids_fingerprint(image_ids) -> str:
    """sha256 over the sorted image ids, one per line."""
    text = "".join(f"{i}\n" for i in sorted(map(str, image_ids)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_training_split(source: str, size: int, *, root: str | None = None, max_images: int | None = None,
                        **source_options) -> TrainingData:
    """uint8 images + condition rows of `source`'s training split (cxrbench patient-hash scheme),
    frontal images only. `max_images` keeps the first N training rows in row order."""
    from cxrbench.data.sources import get_source
    from cxrbench.data.splits import split_rows

    src = get_source(source, root=root, **source_options)
    rows = src.rows(frontal_only=True)
    train = split_rows(rows)["train"]
    if max_images is not None:
        train = train.iloc[:max_images].reset_index(drop=True)
    if train.empty:
        raise DataError(f"source {source!r}: its training split is empty")
    images = src.load_batch(train, size)
    options = ", ".join(f"{k}={v!r}" for k, v in sorted(source_options.items()))
    return TrainingData(
        images=images,
        conditions=train[list(CONDITION_COLUMNS) + ["site"]].reset_index(drop=True),
        image_ids=train["image_id"].astype(str).to_numpy(),
        patients=int(train["patient_id"].nunique()),
        description=f"{source}({options}) [{src.cache_namespace}] training split, cxrbench scheme, frontal, {len(train)} images at {size}px",
    )
