"""A labelled grid of real images, for `cxrbench data preview <source>`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.data.atomic import atomic_write
from cxrbench.errors import DataError
from cxrbench.schema import PATHOLOGIES

_SHORT = {"No Finding": "NoFind", "Enlarged Cardiomediastinum": "EnlCM", "Cardiomegaly": "Cardiomeg",
          "Lung Opacity": "Opacity", "Lung Lesion": "Lesion", "Edema": "Edema", "Consolidation": "Consol",
          "Pneumonia": "Pneumonia", "Atelectasis": "Atelect", "Pneumothorax": "PTX",
          "Pleural Effusion": "Effusion", "Pleural Other": "PlOther", "Fracture": "Fracture",
          "Support Devices": "Devices"}


def caption(row: pd.Series) -> str:
    """`AP F 68y` on one line, then the positive (and `?` uncertain) labels, abbreviated."""
    age = "" if pd.isna(row["age"]) else f" {int(row['age'])}y"
    head = f"{row['view']} {row['sex']}{age}"
    found = [_SHORT[p] for p in PATHOLOGIES if row[p] == 1] + [_SHORT[p] + "?" for p in PATHOLOGIES if row[p] == -1]
    lines, line = [], ""
    for word in found:
        if line and len(line) + len(word) > 24:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    lines.append(line or "—")
    return "\n".join([head, *lines[:3]])


def sample_images(source, n: int, size: int, seed: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Up to `n` frontal rows (seeded order) whose images decode; returns pixels, captions, failures.

    Rows whose file is absent are passed over (a local copy may hold only some images); files
    that exist but do not decode are reported in `failures`.
    """
    rows = source.rows()
    order = np.random.default_rng(seed).permutation(len(rows))
    ids = rows[["image_id", "path"]].to_dict("records")  # cheap stand-ins for image_path
    images, captions, failures = [], [], []
    absent = 0
    for i in order:
        try:
            if not source.image_path(ids[i]).is_file():
                absent += 1
                continue
        except NotImplementedError:
            pass
        row = rows.iloc[int(i)]
        try:
            images.append(source.load_image(row, size))
        except DataError as exc:
            failures.append(str(exc))
            continue
        captions.append(caption(row))
        if len(images) == n:
            break
    if not images:
        detail = f"; first error: {failures[0]}" if failures else f"; {absent:,} image files are absent"
        raise DataError(f"{source.name}: no image could be loaded for the preview{detail}")
    return np.stack(images), captions, failures


def write_grid(images: np.ndarray, captions: list[str], out_path: str | Path, title: str = "") -> Path:
    """Save uint8 (N, S, S) images as a captioned grid PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 3.2 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, text in zip(axes.flat, images, captions):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(text, fontsize=7, loc="left")
    if title:
        fig.suptitle(title, fontsize=10)
    out_path = Path(out_path)
    atomic_write(out_path, lambda fh: fig.savefig(fh, format="png", dpi=110))
    plt.close(fig)
    return out_path
