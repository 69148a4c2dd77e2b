"""Per-image probabilities as parquet: `image_id` + one float32 column per label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.errors import DataError


def write_predictions(path: str | Path, image_ids, probs: np.ndarray, label_names) -> Path:
    """Write predictions atomically; columns `image_id`, then `label_names` in order."""
    from cxrbench.data.atomic import atomic_write

    probs = np.asarray(probs, dtype=np.float32)
    ids = np.asarray(image_ids).astype(str)
    label_names = list(label_names)
    if probs.ndim != 2 or probs.shape != (len(ids), len(label_names)):
        raise DataError(f"probabilities {probs.shape} do not match {len(ids)} image ids x {len(label_names)} labels")
    if len(set(ids)) != len(ids):
        raise DataError("duplicate image ids in predictions")
    if not np.isfinite(probs).all() or (probs < 0).any() or (probs > 1).any():
        raise DataError("predictions must be finite probabilities in [0, 1]")
    frame = pd.DataFrame(probs, columns=label_names)
    frame.insert(0, "image_id", ids)
    return atomic_write(Path(path), lambda fh: frame.to_parquet(fh, index=False))


def read_predictions(path: str | Path, label_names=None) -> pd.DataFrame:
    """Read a predictions parquet, checking it has `image_id` and the expected label columns."""
    frame = pd.read_parquet(path)
    if "image_id" not in frame.columns:
        raise DataError(f"{path}: no image_id column")
    if label_names is not None:
        missing = [n for n in label_names if n not in frame.columns]
        if missing:
            raise DataError(f"{path}: missing label column(s) {missing}")
    return frame
