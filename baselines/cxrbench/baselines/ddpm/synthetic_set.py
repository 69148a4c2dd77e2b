"""A synthetic set on disk: parquet shards (one row per image: pixels, seed, condition columns)
and a `manifest.json` written last, only when every shard is there.

A run killed midway leaves shards but no manifest, so it is never mistaken for a whole set; run
again with the same plan and it resumes, skipping the shards already written. Shards load with
pyarrow, pandas or `datasets.load_dataset("parquet", data_files=...)`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cxrbench.baselines.ddpm.conditioning import CONDITION_COLUMNS, condition_matrix
from cxrbench.data.atomic import atomic_write, atomic_write_text
from cxrbench.data.file_digest import file_sha256
from cxrbench.errors import ConfigError, DataError

MANIFEST = "manifest.json"
PLAN = "plan.json"
FORMAT_VERSION = 1


def plan_hash(conditions: pd.DataFrame, seeds: np.ndarray, size: int, generator_id: str) -> str:
    """What the set will contain: conditions, seeds, size and the generator's identity."""
    h = hashlib.sha256()
    h.update(f"v{FORMAT_VERSION}|{size}|{generator_id}|".encode())
    h.update(pd.util.hash_pandas_object(conditions[list(CONDITION_COLUMNS)].astype("string"), index=False).to_numpy().tobytes())
    h.update(np.asarray(seeds, dtype=np.int64).tobytes())
    return h.hexdigest()


def _shard_name(i: int) -> str:
    return f"shard-{i:05d}.parquet"


def write_synthetic_set(out_dir: str | Path, conditions: pd.DataFrame, seeds: np.ndarray, size: int,
                        generate: Callable[[pd.DataFrame, np.ndarray, int], np.ndarray], generator_id: str,
                        shard_size: int = 512, progress: Callable[[int, int], None] | None = None) -> Path:
    """Generate and write the set shard by shard; return the manifest path once it is complete.

    `generate(conditions, seeds, size)` → uint8 (n, size, size). Re-running with the same plan
    resumes; a different plan in the same folder is refused.
    """
    out = Path(out_dir)
    conditions = conditions.reset_index(drop=True)
    condition_matrix(conditions)  # SchemaError naming the bad column/row before anything is written
    seeds = np.asarray(seeds, dtype=np.int64)
    if len(seeds) != len(conditions):
        raise DataError(f"{len(conditions)} condition rows but {len(seeds)} seeds")
    plan = {"format": FORMAT_VERSION, "plan_sha256": plan_hash(conditions, seeds, size, generator_id),
            "n_images": len(seeds), "size": size, "shard_size": shard_size, "generator": generator_id}
    plan_path = out / PLAN
    if plan_path.exists():
        old = json.loads(plan_path.read_text())
        if old != plan:
            raise ConfigError(f"{out}: holds a different synthetic set (plan {old.get('plan_sha256', '?')[:12]}); "
                              "use another folder or delete it")
    else:
        atomic_write_text(plan_path, json.dumps(plan, indent=2))
    if (out / MANIFEST).exists():
        return out / MANIFEST
    n_shards = (len(seeds) + shard_size - 1) // shard_size
    shards = []
    for i in range(n_shards):
        lo, hi = i * shard_size, min((i + 1) * shard_size, len(seeds))
        path = out / "shards" / _shard_name(i)
        if not path.exists():
            images = np.asarray(generate(conditions.iloc[lo:hi].reset_index(drop=True), seeds[lo:hi], size))
            if images.shape != (hi - lo, size, size) or images.dtype != np.uint8:
                raise DataError(f"generator returned {images.dtype} {images.shape}, expected uint8 "
                                f"{(hi - lo, size, size)}")
            table = _shard_table(conditions.iloc[lo:hi], seeds[lo:hi], images, lo)
            atomic_write(path, lambda fh, t=table: pq.write_table(t, fh))
        shards.append({"file": f"shards/{path.name}", "rows": hi - lo, "sha256": file_sha256(path)})
        if progress is not None:
            progress(hi, len(seeds))
    manifest = {**plan, "complete": True, "shards": shards}
    return atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2))


def _shard_table(conditions: pd.DataFrame, seeds: np.ndarray, images: np.ndarray, offset: int) -> pa.Table:
    frame = conditions[list(CONDITION_COLUMNS) + [c for c in ("site",) if c in conditions]].copy()
    for col in ("sex", "race", "view", "site"):
        if col in frame:
            frame[col] = frame[col].astype("string")
    frame.insert(0, "seed", seeds)
    frame.insert(0, "index", np.arange(offset, offset + len(seeds), dtype=np.int64))
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    pixels = pa.array([img.tobytes() for img in images], type=pa.binary(images.shape[1] * images.shape[2]))
    return table.append_column("image", pixels)


def read_synthetic_set(out_dir: str | Path) -> tuple[np.ndarray, pd.DataFrame]:
    """uint8 images (N, S, S) and the table (index, seed, conditions) of a *complete* set;
    DataError for a missing or incomplete one, or a shard whose hash changed."""
    out = Path(out_dir)
    manifest_path = out / MANIFEST
    if not manifest_path.exists():
        state = "incomplete (no manifest: the run did not finish)" if (out / PLAN).exists() else "missing"
        raise DataError(f"{out}: synthetic set is {state}")
    manifest = json.loads(manifest_path.read_text())
    if not manifest.get("complete"):
        raise DataError(f"{manifest_path}: synthetic set is not marked complete")
    tables = []
    for shard in manifest["shards"]:
        path = out / shard["file"]
        if not path.exists() or file_sha256(path) != shard["sha256"]:
            raise DataError(f"{path}: shard missing or changed since the set was completed")
        tables.append(pq.read_table(path))
    table = pa.concat_tables(tables)
    size = manifest["size"]
    raw = table.column("image").combine_chunks()
    images = np.frombuffer(raw.buffers()[1], dtype=np.uint8)[raw.offset * size * size:][: len(raw) * size * size]
    frame = table.drop(["image"]).to_pandas()
    return images.reshape(len(raw), size, size).copy(), frame
