"""What every dataset looks like to the rest of cxrbench."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.data.preprocess import check_size, decode_image, to_square
from cxrbench.data.splits import HASH_SCHEME, Split
from cxrbench.errors import ConfigError, DataError


class Source(ABC):
    """A dataset read into canonical rows (`cxrbench.schema`) whose pixels can be loaded.

    Subclasses set `name` and implement `rows`; file-backed ones implement `image_path`.
    `cache_namespace` keys the ImageStore: two sources whose pixels differ for the same
    image_id (CheXpert full-size vs the small layout) must not share it.
    """

    name: str = "source"

    @abstractmethod
    def rows(self, frontal_only: bool = True) -> pd.DataFrame:
        """Canonical, validated rows; frontal (PA/AP) images only unless `frontal_only=False`."""

    @property
    def cache_namespace(self) -> str:
        return self.name

    @property
    def pixel_provenance(self) -> str | None:
        """What, besides the image ids, fixes this source's pixels for every user, or None.

        A file-backed dataset's pixels are the published files, identified by their ids. A
        generated source (the phantom) returns its renderer version and code digest, which task
        fingerprints carry so a record scored on other pixels cannot be published.
        """
        return None

    def image_path(self, row: pd.Series) -> Path:
        """Absolute path of a row's image file."""
        raise NotImplementedError(f"{type(self).__name__} has no image files")

    def load_pixels(self, row: pd.Series) -> np.ndarray:
        """uint8 2-D grayscale at native size; DataError naming the path if missing or corrupt."""
        return decode_image(self.image_path(row))

    def load_image(self, row: pd.Series, size: int) -> np.ndarray:
        """One row's pixels as uint8 (size, size), through `to_square`.

        File sources let the JPEG decoder skip resolution it does not need (see `decode_image`).
        """
        try:
            path = self.image_path(row)
        except NotImplementedError:
            return to_square(self.load_pixels(row), size)
        return decode_image(path, size)

    def load_batch(self, rows: pd.DataFrame, size: int) -> np.ndarray:
        """uint8 (N, size, size) for `rows`, in order; DataError on the first bad image."""
        size = check_size(size)
        out = np.empty((len(rows), size, size), dtype=np.uint8)
        for i, (_, row) in enumerate(rows.iterrows()):
            out[i] = self.load_image(row, size)
        return out

    def split(self, scheme: str = HASH_SCHEME, *, frontal_only: bool = True) -> Split:
        """The split of this source's patients under `scheme` (`cxrbench`; some sources add `official`)."""
        if scheme != HASH_SCHEME:
            raise ConfigError(f"source {self.name!r} has no split scheme {scheme!r}; available: {HASH_SCHEME}")
        return Split.from_rows(self.rows(frontal_only=frontal_only), self.name, scheme)

    def describe(self) -> str:
        """One line for `cxrbench data ls`."""
        return (type(self).__doc__ or self.name).strip().splitlines()[0]


class TableSource(Source):
    """A source whose rows come from metadata files, read once on first use."""

    _all_rows: pd.DataFrame | None = None

    @abstractmethod
    def _read_all(self) -> pd.DataFrame:
        """Every row (all views), canonical and validated."""

    def _frontal(self, rows: pd.DataFrame) -> np.ndarray:
        """Which of `rows` (as read by `_read_all`) are frontal films; PA/AP unless a source knows better."""
        return rows["view"].isin(["PA", "AP"]).to_numpy()

    def rows(self, frontal_only: bool = True) -> pd.DataFrame:
        if self._all_rows is None:
            self._all_rows = self._read_all()
        rows = self._all_rows
        if frontal_only:
            rows = rows[self._frontal(rows)]
        return rows.reset_index(drop=True)


def existing_root(root, what: str) -> Path:
    """`root` as an existing directory, or DataError saying which source needed it."""
    if root is None:
        raise DataError(f"{what}: no root given (pass --root PATH, the folder holding the dataset)")
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"{what}: root {path} does not exist")
    return path
