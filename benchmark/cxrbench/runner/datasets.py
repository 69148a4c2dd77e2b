"""Assemble a task's real data: rows of a frozen split and their cached pixels.

This is the scorer's side: it holds labels. What a submission may see is cut from here by the
runner (condition columns of training rows for a generator; label-free eval images for a
classifier) and nothing else leaves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.errors import ConfigError, DataError
from cxrbench.schema import PATHOLOGIES
from cxrbench.tasking import Budget, DataRef

#: Columns a generator is conditioned on (no ids, paths or pixels).
CONDITION_COLUMNS: tuple[str, ...] = PATHOLOGIES + ("age", "sex", "race", "view", "site")
ROOT_ENV = {"chexpert": "CXRBENCH_CHEXPERT_ROOT", "mimic": "CXRBENCH_MIMIC_ROOT", "nih": "CXRBENCH_NIH_ROOT",
            "csv": "CXRBENCH_CSV"}
#: folder of the image store root that holds each loaded slice's rows, by content key
SLICES_FOLDER = "slices"


@dataclass(frozen=True)
class StoredSlice:
    """Where a slice lives on disk: its rows (parquet) and its pixels (the image store's uint8 file,
    `count` images of `size` x `size`, in row order)."""

    rows: Path
    pixels: Path
    count: int
    size: int

    def open_pixels(self) -> np.ndarray:
        return np.memmap(self.pixels, dtype=np.uint8, mode="r", shape=(self.count, self.size, self.size))


@dataclass
class RealSet:
    """Rows (canonical, with labels) and pixels (uint8 (N, S, S)) of one slice of a source.

    A slice loaded from the image store travels by reference: pickled (to a process pool or a Ray
    worker) it carries only where its rows and pixels are (`stored`), and the receiving process
    reads the rows and memory-maps the pixels; no pixel is ever copied into a job."""

    ref: DataRef
    rows: pd.DataFrame
    pixels: np.ndarray
    fingerprint: str  # sha256 over the sorted (patient_id, image_id) pairs of this slice (the split's identity)
    content_key: str = ""  # fingerprint + row contents + pixel namespace and size: what cache keys use
    stored: StoredSlice | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def labels(self, names: tuple[str, ...]) -> np.ndarray:
        return self.rows[list(names)].to_numpy(np.float32)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if self.stored is not None:
            del state["rows"], state["pixels"]
        return state

    def __setstate__(self, state: dict) -> None:
        stored = state.get("stored")
        if stored is not None and "rows" not in state:
            state = {**state, "rows": pd.read_parquet(stored.rows), "pixels": stored.open_pixels()}
        self.__dict__.update(state)


def _source_options(ref: DataRef, budget: Budget, seed: int | None = None) -> dict:
    """`seed`: a held-out phantom population's seed (`cxrbench.trust.populations`); None: the public one."""
    if ref.source == "phantom":
        opts = {"site": ref.site or "site-a"}
        # Test splits may come from a larger population: patient k is the same whatever the count and
        # splits hash the patient id, so the test patients of any population never train.
        n = budget.n_eval_patients if ref.split == "test" and budget.n_eval_patients else budget.n_patients
        if n:
            opts["n_patients"] = n
        if seed is not None:
            opts["seed"] = seed
        return opts
    env = ROOT_ENV.get(ref.source)
    if env is None:
        raise ConfigError(f"unknown source {ref.source!r} in task data reference {ref.key}")
    root = os.environ.get(env)
    if not root:
        raise ConfigError(f"task needs the {ref.source} dataset: set {env} to its root folder "
                          f"(see `cxrbench data ls`)")
    return {"root": root}


@lru_cache(maxsize=16)
def _source_rows(source_name: str, options: tuple) -> tuple[object, pd.DataFrame]:
    from cxrbench.data.sources import get_source

    source = get_source(source_name, **dict(options))
    return source, source.rows(frontal_only=True)


def slice_fingerprint_of(rows: pd.DataFrame) -> str:
    from cxrbench.runner.cache import stable_hash

    # lists first: iterating a pyarrow-backed column yields one scalar at a time (seconds on 100k rows)
    pairs = sorted(zip(rows["patient_id"].astype(str).tolist(), rows["image_id"].astype(str).tolist()))
    return stable_hash(pairs)


def _content_key(rows: pd.DataFrame, fingerprint: str, source, size: int) -> str:
    """Changes whenever the labels, demographics or pixels of the slice change, not only its ids."""
    from cxrbench.runner.cache import stable_hash

    table = int(pd.util.hash_pandas_object(rows, index=False).sum() % (1 << 63))
    namespace = getattr(source, "cache_namespace", None) or source.name
    return stable_hash({"ids": fingerprint, "rows": table, "pixels": namespace, "size": size})


def _limit_patients(rows: pd.DataFrame, max_images: int | None) -> pd.DataFrame:
    """Keep whole patients, in the order of their split hash, until `max_images` is reached.

    Deterministic and independent of row order, like the split itself.
    """
    if not max_images or len(rows) <= max_images:
        return rows
    from cxrbench.data.splits import patient_unit_interval

    order = rows["patient_id"].astype(str).map(lambda p: patient_unit_interval(p, salt="cxrbench-subset-v1"))
    rows = rows.assign(_order=order.to_numpy()).sort_values(["_order", "image_id"], kind="stable")
    counts = rows.groupby("_order", sort=False).size().cumsum()
    keep = set(counts.index[counts <= max_images])
    return rows[rows["_order"].isin(keep)].drop(columns="_order").reset_index(drop=True)


@lru_cache(maxsize=16)
def _split_parts(source_name: str, options: tuple, site: str | None) -> tuple[object, dict[str, pd.DataFrame]]:
    """The source and its rows by frozen split (of one site, for a multi-site source), computed once
    per population: the split hashes every patient id, and a task asks for several slices of each."""
    from cxrbench.data.splits import split_rows

    source, rows = _source_rows(source_name, options)
    if site and source_name != "phantom":
        rows = rows[rows["site"] == site]
    return source, split_rows(rows)


def real_rows(ref: DataRef, budget: Budget, *, max_images: int | None = None,
              seed: int | None = None) -> tuple[object, pd.DataFrame]:
    """The source and the rows of `ref`'s frozen split (optionally capped to whole patients), sorted by id.
    `seed`: a held-out phantom population's seed (None: the public population)."""
    options = _source_options(ref, budget, seed)
    source, parts = _split_parts(ref.source, tuple(sorted(options.items())), ref.site)
    part = parts.get(ref.split)
    if part is None or len(part) == 0:
        raise DataError(f"{ref.key}: the frozen split has no images (source {ref.source}, site {ref.site})")
    part = part.sort_values("image_id", kind="stable").reset_index(drop=True)
    part = _limit_patients(part, max_images).sort_values("image_id", kind="stable").reset_index(drop=True)
    return source, part


def slice_fingerprint(ref: DataRef, budget: Budget, *, max_images: int | None = None) -> str:
    """The fingerprint a record carries for this slice, without loading any pixels."""
    return slice_fingerprint_of(real_rows(ref, budget, max_images=max_images)[1])


def load_real_set(ref: DataRef, budget: Budget, store_root: Path, *, max_images: int | None = None,
                  progress=None, seed: int | None = None, pixels: bool = True) -> RealSet:
    """Rows of `ref`'s frozen split (optionally capped, whole patients) and their pixels at the task size
    (`pixels=False`: none are rendered or decoded; the rows, fingerprint and content key are the same)."""
    source, part = real_rows(ref, budget, max_images=max_images, seed=seed)
    return _with_pixels(ref, source, part, budget.image_size, store_root, pixels)


def _with_pixels(ref: DataRef, source, part: pd.DataFrame, size: int, store_root: Path, pixels: bool = True) -> RealSet:
    from cxrbench.data.image_store import ImageStore

    fingerprint = slice_fingerprint_of(part)
    content_key = _content_key(part, fingerprint, source, size)
    if not pixels:
        return RealSet(ref=ref, rows=part, pixels=np.empty((0, size, size), np.uint8), fingerprint=fingerprint,
                       content_key=content_key)
    arr = ImageStore(store_root).get(source, part, size, on_error="raise")
    if list(arr.image_ids) != part["image_id"].astype(str).tolist():
        raise DataError(f"{ref.key}: image store returned images out of order")
    stored = None
    if arr.path is not None and len(part):
        stored = StoredSlice(rows=_stored_rows(Path(store_root), content_key, part), pixels=arr.path,
                             count=len(part), size=size)
    return RealSet(ref=ref, rows=part, pixels=arr.pixels, fingerprint=fingerprint, content_key=content_key,
                   stored=stored)


def _stored_rows(store_root: Path, content_key: str, rows: pd.DataFrame) -> Path:
    """The slice's rows as parquet, written once (the content key names exactly these rows)."""
    from cxrbench.data.atomic import atomic_write

    path = store_root / SLICES_FOLDER / f"{content_key}.parquet"
    if not path.is_file():
        atomic_write(path, lambda fh: rows.to_parquet(fh, index=False))
    return path


def with_rows(real: RealSet, rows: pd.DataFrame, fingerprint: str, content_key: str) -> RealSet:
    """The same pixels under other rows (a held-out set's, with opaque ids): a stored slice gets its
    own rows file, so it travels to a job by reference as these rows."""
    stored = real.stored
    if stored is not None:
        store_root = stored.rows.parent.parent  # <store>/slices/<key>.parquet
        stored = replace(stored, rows=_stored_rows(store_root, content_key, rows))
    return replace(real, rows=rows, fingerprint=fingerprint, content_key=content_key, stored=stored)


#: the data reference of a private eval set's rows (a CSV source on the evaluator's machine)
PRIVATE_REF = DataRef(source="csv", site="private", split="test")


def eval_rows(name: str, ref: DataRef, budget: Budget, population) -> tuple[object, pd.DataFrame]:
    """The source and rows of eval set `name` in `population` (`cxrbench.trust.populations`): the
    frozen test split, drawn from the held-out phantom population, or a private CSV's rows."""
    private = population.private_set(name)
    if private is None:
        return real_rows(ref, budget.for_eval_set(name), max_images=budget.max_eval_images,
                         seed=population.phantom_seed(ref))
    from cxrbench.data.sources import get_source
    from cxrbench.errors import CxrbenchError

    try:
        source = get_source("csv", private.csv, mapping=private.mapping)
        rows = source.rows(frontal_only=True)
    except CxrbenchError as exc:  # its message may quote rows; they must not reach a record or a log
        raise DataError(f"private eval set {name}: its CSV source cannot be read ({type(exc).__name__}; details "
                        f"withheld from records and logs): check it locally with `cxrbench data ls csv "
                        f"--root CSV --mapping MAPPING`") from None
    if len(rows) == 0:
        raise DataError(f"private eval set {name}: its CSV source has no frontal images")
    rows = rows.sort_values("image_id", kind="stable").reset_index(drop=True)
    return source, _limit_patients(rows, budget.max_eval_images).sort_values("image_id", kind="stable") \
        .reset_index(drop=True)


def load_eval_set(name: str, ref: DataRef, budget: Budget, store_root: Path, population,
                  pixels: bool = True) -> RealSet:
    """Rows and pixels of eval set `name` in `population`, before `population.seal` (ids still real)."""
    source, part = eval_rows(name, ref, budget, population)
    if population.private_set(name) is None:
        return _with_pixels(ref, source, part, budget.image_size, store_root, pixels)
    try:  # its ref names no hospital: the record shows the site as `private`
        return _with_pixels(PRIVATE_REF, source, part, budget.image_size, store_root, pixels)
    except DataError:
        raise DataError(f"private eval set {name}: an image cannot be read (details withheld from records and "
                        f"logs): check it locally with `cxrbench data ls csv --root CSV --mapping "
                        f"MAPPING`") from None


def condition_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The only columns of a training row that a generator may see."""
    return rows[list(CONDITION_COLUMNS)].reset_index(drop=True)


def pixel_fingerprint(refs, budget: Budget) -> str | None:
    """One hash over the pixel provenance of the sources behind `refs` (e.g. the phantom's renderer
    version and code digest), or None when every source is a file-backed dataset.

    Row fingerprints fix which images a slice holds; this fixes how a generated source draws
    them, so records scored on an older phantom renderer are not comparable and are refused.
    """
    from cxrbench.runner.cache import stable_hash

    found = set()
    for ref in refs:
        source, _ = _source_rows(ref.source, tuple(sorted(_source_options(ref, budget).items())))
        provenance = getattr(source, "pixel_provenance", None)
        if provenance:
            found.add(str(provenance))
    return stable_hash(sorted(found)) if found else None


def task_refs(spec) -> list[DataRef]:
    """Every real-data reference a task reads (eval sets, validation, real training rows)."""
    return [*spec.eval_sets.values(), spec.val, *([spec.real_train] if spec.real_train is not None else []),
            *([spec.conditions_from] if spec.conditions_from is not None else [])]


def task_split_fingerprints(spec, budget_name: str) -> dict[str, str]:
    """Every slice fingerprint a record of `spec` at this budget must carry (keys as in records),
    plus `pixels` (see `pixel_fingerprint`) for generated sources."""
    budget = spec.budget(budget_name)
    out = {name: slice_fingerprint(ref, budget.for_eval_set(name), max_images=budget.max_eval_images)
           for name, ref in spec.eval_sets.items()}
    out["val"] = slice_fingerprint(spec.val, budget, max_images=budget.max_val_images)
    if spec.real_train is not None:
        out["real_train"] = slice_fingerprint(spec.real_train, budget, max_images=budget.max_train_images)
    pixels = pixel_fingerprint(task_refs(spec), budget)
    if pixels is not None:
        out["pixels"] = pixels
    return out
