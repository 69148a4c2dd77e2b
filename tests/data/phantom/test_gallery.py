"""The labelled gallery: a row per finding, a column per site and view."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cxrbench.data.phantom.gallery import write_gallery
from cxrbench.schema import PATHOLOGIES


def test_gallery_has_a_row_per_finding_and_columns_per_site(tmp_path):
    out = write_gallery(tmp_path / "sub" / "gallery.png", size=32, seed=1)
    img = np.asarray(Image.open(out))
    label_w, head_h, pad, size = 190, 34, 4, 32
    assert img.shape == (head_h + len(PATHOLOGIES) * (size + pad), label_w + 6 * (size + pad))
    tiles = [img[head_h + r * (size + pad):head_h + r * (size + pad) + size, label_w:label_w + size]
             for r in range(len(PATHOLOGIES))]
    assert all(t.std() > 10 for t in tiles)  # every row holds a radiograph
    assert np.array_equal(np.asarray(Image.open(write_gallery(tmp_path / "again.png", size=32, seed=1))), img)
