"""Decode each image once; afterwards training reads uint8 pixels from a memory-mapped file.

Layout under the store root::

    <namespace>/<size>/<key>.u8     raw uint8, N × size × size, row-major
    <namespace>/<size>/<key>.json   the image ids in file order, skipped images, shape

`key` hashes the requested id list, so asking again for the same rows maps the same file
instantly. Images already decoded for another request are copied from its file, not decoded
again. Both files are written to a temporary name, fsynced and `os.replace`d, the JSON last: a
`.u8` without its JSON is an interrupted write and is ignored, never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.cache_location import default_cache_root
from cxrbench.data.atomic import atomic_write, atomic_write_text
from cxrbench.data.preprocess import check_size
from cxrbench.errors import ConfigError, DataError

log = logging.getLogger("cxrbench.data")
STORE_VERSION = 1
CHUNK = 256


@dataclass(frozen=True)
class SkippedImage:
    image_id: str
    path: str
    reason: str


@dataclass
class ImageArray:
    """Pixels for a list of rows: `pixels[i]` is the image of `image_ids[i]`.

    `pixels` is a read-only np.memmap uint8 (N, size, size) (a plain empty array when N = 0).
    `skipped` lists images left out under on_error="skip", with their paths and reasons.
    """

    pixels: np.ndarray
    image_ids: np.ndarray
    skipped: list[SkippedImage] = field(default_factory=list)
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.image_ids)


def default_root() -> Path:
    """`$CXRBENCH_CACHE/images`, else `.cxrbench-cache/images` in the working directory."""
    return default_cache_root() / "images"


class ImageStore:
    """A cache of decoded, resized uint8 pixels keyed by (source namespace, image_id, size)."""

    def __init__(self, root: str | Path | None = None, *, workers: int | None = None, progress: bool = False):
        self.root = Path(root) if root is not None else default_root()
        self.workers = workers or min(4, os.cpu_count() or 1)
        self.progress = progress

    def get(self, source, rows: pd.DataFrame, size: int, on_error: str = "raise") -> ImageArray:
        """Pixels of `rows` (in order) at `size`, decoding only images never decoded before.

        on_error="raise": the first missing or corrupt image raises DataError naming its path,
        and nothing is written. on_error="skip": such images are left out of the result, logged
        and listed in `.skipped`; never zero-filled.
        """
        size = check_size(size)
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        ids = rows["image_id"].astype(str).to_numpy()
        dup = pd.Series(ids).duplicated()
        if dup.any():
            raise DataError(f"ImageStore.get: image_id {ids[int(np.argmax(dup.to_numpy()))]!r} requested twice")
        namespace = getattr(source, "cache_namespace", None) or source.name
        folder = self.root / _safe(namespace) / str(size)
        key = hashlib.sha256(f"v{STORE_VERSION}\n{namespace}\n{size}\n".encode() + "\n".join(ids).encode()).hexdigest()[:32]
        cached = self._open(folder, key, size, on_error)
        if cached is not None:
            return cached
        return self._build(source, rows.reset_index(drop=True), ids, size, folder, key, on_error)

    # -- reading ---------------------------------------------------------------------------

    def _open(self, folder: Path, key: str, size: int, on_error: str) -> ImageArray | None:
        meta_path, data_path = folder / f"{key}.json", folder / f"{key}.u8"
        if not meta_path.is_file() or not data_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            skipped = [SkippedImage(**s) for s in meta["skipped"]]
            ids = np.asarray(meta["image_ids"], dtype=object)
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("image store: %s is unreadable; rebuilding it", meta_path)
            return None
        if skipped and on_error == "raise":
            return None  # rebuild, so the first bad image raises with its path
        if data_path.stat().st_size != len(ids) * size * size:
            log.warning("image store: %s has the wrong size; rebuilding it", data_path)
            return None
        for s in skipped:
            log.warning("image store: skipped image %s: %s", s.image_id, s.reason)
        pixels = _memmap(data_path, len(ids), size) if len(ids) else np.zeros((0, size, size), np.uint8)
        return ImageArray(pixels, ids, skipped, data_path)

    def _index(self, folder: Path) -> dict[str, tuple[Path, int]]:
        """image_id → (data file, position) over every complete entry in `folder`."""
        index: dict[str, tuple[Path, int]] = {}
        for meta_path in sorted(folder.glob("*.json")):
            data_path = meta_path.with_suffix(".u8")
            try:
                ids = json.loads(meta_path.read_text())["image_ids"]
            except (OSError, ValueError, KeyError):
                continue
            if data_path.is_file():
                for position, image_id in enumerate(ids):
                    index.setdefault(image_id, (data_path, position))
        return index

    # -- writing ---------------------------------------------------------------------------

    def _build(self, source, rows: pd.DataFrame, ids: np.ndarray, size: int, folder: Path, key: str,
               on_error: str) -> ImageArray:
        kept: list[str] = []
        with ThreadPoolExecutor(self.workers) as pool:
            fill = _ChunkFiller(source, size, self._index(folder) if folder.is_dir() else {}, on_error, pool)

            def write(fh) -> None:
                label = f"decoding {getattr(source, 'name', 'images')} @ {size}px"
                with _progress(self.progress, len(rows), label) as advance:
                    for start in range(0, len(rows), CHUNK):
                        images, ok = fill(rows.iloc[start:start + CHUNK])
                        fh.write(np.ascontiguousarray(images[ok]).tobytes())
                        kept.extend(ids[start:start + CHUNK][ok].tolist())
                        advance(len(ok))

            data_path = atomic_write(folder / f"{key}.u8", write)
        meta = {"version": STORE_VERSION, "size": size, "count": len(kept), "image_ids": kept,
                "skipped": [s.__dict__ for s in fill.skipped]}
        atomic_write_text(folder / f"{key}.json", json.dumps(meta))
        pixels = _memmap(data_path, len(kept), size) if kept else np.zeros((0, size, size), np.uint8)
        return ImageArray(pixels, np.asarray(kept, dtype=object), fill.skipped, data_path)


class _ChunkFiller:
    """Pixels for a chunk of rows: copied from earlier entries where cached, else decoded."""

    def __init__(self, source, size: int, index: dict[str, tuple[Path, int]], on_error: str, pool):
        self.source, self.size, self.index, self.on_error, self.pool = source, size, index, on_error, pool
        self.maps: dict[Path, np.memmap] = {}
        self.skipped: list[SkippedImage] = []
        self.vectorised = _overrides_load_batch(source)

    def __call__(self, chunk: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (len(chunk), size, size) and a mask of the rows that are kept."""
        size = self.size
        images = np.empty((len(chunk), size, size), dtype=np.uint8)
        ok = np.ones(len(chunk), dtype=bool)
        todo: list[int] = []
        for i, image_id in enumerate(chunk["image_id"].astype(str)):
            hit = self.index.get(image_id)
            if hit is None:
                todo.append(i)
                continue
            data_path, position = hit
            if data_path not in self.maps:
                self.maps[data_path] = _memmap(data_path, data_path.stat().st_size // (size * size), size)
            images[i] = self.maps[data_path][position]
        if not todo:
            return images, ok
        if self.vectorised:  # e.g. the phantom renders a whole batch at once
            images[todo] = self.source.load_batch(chunk.iloc[todo], size)
            return images, ok

        def decode(i: int):
            try:
                return i, self.source.load_image(chunk.iloc[i], size), None
            except DataError as exc:
                return i, None, exc

        for i, pixels, error in self.pool.map(decode, todo):
            if error is None:
                images[i] = pixels
                continue
            if self.on_error == "raise":
                raise error
            row = chunk.iloc[i]
            self.skipped.append(SkippedImage(str(row["image_id"]), _describe_path(self.source, row), str(error)))
            log.warning("image store: skipping image %s: %s", row["image_id"], error)
            ok[i] = False
        return images, ok


def _memmap(path: Path, count: int, size: int) -> np.memmap:
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(count, size, size))


def _safe(namespace: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in namespace)


def _overrides_load_batch(source) -> bool:
    from cxrbench.data.sources.base import Source

    return type(source).load_batch is not Source.load_batch


def _describe_path(source, row) -> str:
    try:
        return str(source.image_path(row))
    except Exception:  # sources without files
        return str(row.get("path", ""))


class _progress:
    """A rich progress bar when enabled; a no-op `advance` otherwise."""

    def __init__(self, enabled: bool, total: int, label: str):
        self.enabled, self.total, self.label = enabled and total > 0, total, label

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                             TimeRemainingColumn(), transient=True)
        self._bar.__enter__()
        task = self._bar.add_task(self.label, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self._bar.__exit__(*exc)
        return False
