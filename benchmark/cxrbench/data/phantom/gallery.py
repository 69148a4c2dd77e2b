"""A labelled gallery of the phantom: one row per finding, the three sites side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from cxrbench.schema import PATHOLOGIES

from .render import check_size, render
from .sites import SITES

CANDIDATE_SEEDS = 8  # per finding, the most visible of this many seeds is shown (at full conspicuity)


def _row(finding: str | None, site: str, view: str, sex: str) -> dict:
    row = {name: np.nan for name in PATHOLOGIES}
    if finding is None:
        row["No Finding"] = 1.0
    else:
        row[finding] = 1.0
    row.update(age=55.0, sex=sex, race="Other/Unknown", view=view, site=site)
    return row


def write_gallery(out_path: str | Path, size: int = 128, seed: int = 0) -> Path:
    """Write a PNG: a row per finding (No Finding first), a column per site and view (PA, AP).

    Each row uses one anatomy for all columns; the finding's seed is the most visible of
    CANDIDATE_SEEDS candidates at site-a, so every row shows a legible example.
    """
    size = check_size(size)
    out_path = Path(out_path)
    columns = [(site, view) for site in SITES for view in ("PA", "AP")]
    findings = [None] + list(PATHOLOGIES[1:])
    tiles = []
    for k, finding in enumerate(findings):
        sex = "F" if k % 2 else "M"
        anatomy = np.full(CANDIDATE_SEEDS, seed * 1000 + k, dtype=np.int64)
        candidates = np.arange(CANDIDATE_SEEDS, dtype=np.int64) + seed * 1000 + 100 * k
        best = candidates[0]
        if finding is not None:
            with_f = render(pd.DataFrame([_row(finding, "site-a", "PA", sex)] * CANDIDATE_SEEDS), candidates, size,
                            anatomy_seeds=anatomy)
            without = render(pd.DataFrame([_row(None, "site-a", "PA", sex)] * CANDIDATE_SEEDS), candidates, size,
                             anatomy_seeds=anatomy)
            diff = np.abs(with_f.astype(np.int16) - without).reshape(CANDIDATE_SEEDS, -1).sum(axis=1)
            best = candidates[int(np.argmax(diff))]
        cond = pd.DataFrame([_row(finding, site, view, sex) for site, view in columns])
        tiles.append(render(cond, np.full(len(cond), best, dtype=np.int64), size,
                            anatomy_seeds=np.full(len(cond), anatomy[0], dtype=np.int64)))

    label_w, head_h, pad = 190, 34, 4
    width = label_w + len(columns) * (size + pad)
    height = head_h + len(findings) * (size + pad)
    canvas = Image.new("L", (width, height), color=255)
    draw = ImageDraw.Draw(canvas)
    for c, (site, view) in enumerate(columns):
        x = label_w + c * (size + pad)
        draw.text((x + 4, 4), f"{site} ({SITES[site].role})", fill=0)
        draw.text((x + 4, 18), view, fill=0)
    for r, finding in enumerate(findings):
        y = head_h + r * (size + pad)
        draw.text((6, y + size // 2 - 6), "No Finding" if finding is None else finding, fill=0)
        for c in range(len(columns)):
            canvas.paste(Image.fromarray(tiles[r][c]), (label_w + c * (size + pad), y))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out_path)
    return out_path
