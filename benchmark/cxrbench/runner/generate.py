"""The generate stage: synthetic images for a task's conditioning rows, one replica at a time.

The study's replica scheme: N% supplementation = each real training row conditions N/100
synthetic images. Replica r of row i has request id `<image_id>#r<r>` and a seed derived from
(generation seed, image id, r) alone, so the 100% set is the first replica of the 1000% set and
every replica is cached once and shared by every task and ratio that needs it.

What generating a replica cost (the submission's wall time, its device, images/s) is measured
when it is generated and kept in its cache entry's metadata, so every record that reuses the
replica carries the measurement (`GenerationRun`, with the date it was made).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.errors import SubmissionError, printable
from cxrbench.results import GenerationRun
from cxrbench.runner.cache import Cache, code_digest
from cxrbench.runner.datasets import CONDITION_COLUMNS, RealSet, condition_rows
from cxrbench.submissions import Limits, Submission, run_worker
from cxrbench.submissions.adapters.images import resize_images
from cxrbench.submissions.protocol import load_shard


@dataclass
class SyntheticReplica:
    """One replica: an image per conditioning row, with the rows' labels and the seeds used."""

    replica: int
    request_ids: np.ndarray
    seeds: np.ndarray
    conditions: pd.DataFrame
    pixels: np.ndarray  # uint8 (N, S, S), memory-mapped
    key: str
    #: what generating it cost, measured then (None: precomputed images, or no measurement in its entry)
    generation: GenerationRun | None = None


def replica_seed(generation_seed: int, image_id: str, replica: int) -> int:
    """The seed of one synthetic image: a function of its identity only (non-negative int63)."""
    digest = hashlib.sha256(f"{generation_seed}:{image_id}:{replica}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def requests_for(conditioning: RealSet, replica: int, generation_seed: int) -> pd.DataFrame:
    """The request table a generator receives for one replica: id, seed and condition columns."""
    ids = conditioning.rows["image_id"].astype(str).to_numpy()
    table = condition_rows(conditioning.rows)
    table.insert(0, "seed", np.array([replica_seed(generation_seed, i, replica) for i in ids], dtype=np.int64))
    table.insert(0, "request_id", [f"{i}#r{replica}" for i in ids])
    for col in ("sex", "race", "view", "site"):
        table[col] = table[col].astype(str)
    return table


def replica_key(submission: Submission, conditioning: RealSet, replica: int, size: int, generation_seed: int,
                cache: Cache) -> str:
    """The cache key of one replica: who generated it, from which rows, at which size and seed."""
    return cache.key("synthetic", {
        "submission": submission.sha256(), "size": size, "replica": replica, "generation_seed": generation_seed,
        "conditioning": conditioning.content_key, "baselines": code_digest("cxrbench.baselines"),
    })


def synthesize(submission: Submission, conditioning: RealSet, replica: int, *, size: int, generation_seed: int,
               cache: Cache, limits: Limits, device: str = "cpu",
               progress: Callable[[int], None] | None = None, denied: tuple[Path, ...] = (),
               key: str | None = None) -> SyntheticReplica:
    """Images for one replica, from the cache or from the submission (resuming finished shards).

    `denied`: folders besides the cache that the sandbox must not see (the results folder); `key`:
    the replica's cache key when the caller has it (a planned job), else computed here."""
    table = requests_for(conditioning, replica, generation_seed)
    if key is None:
        key = replica_key(submission, conditioning, replica, size, generation_seed, cache)
    reused = cache.has("synthetic", key)
    if not reused:
        if submission.manifest.precomputed:
            images = _from_precomputed(submission, table, size)
            with cache.building("synthetic", key, {"submission": submission.name}) as tmp:
                np.save(tmp / "images.npy", images)
                table.to_parquet(tmp / "requests.parquet")
        else:
            _run_generator(submission, table, size, key, cache, limits, device, progress, denied)
    return load_replica(cache, key, replica, reused)


def load_replica(cache: Cache, key: str, replica: int, reused: bool = True) -> SyntheticReplica:
    """A finished replica from its cache entry (pixels memory-mapped); `reused`: it was not made by
    this run, so its generation cost (kept in the entry) is carried as measured then."""
    entry = cache.path("synthetic", key)
    pixels = np.load(entry / "images.npy", mmap_mode="r")
    stored = pd.read_parquet(entry / "requests.parquet")
    return SyntheticReplica(replica=replica, request_ids=stored["request_id"].to_numpy(),
                            seeds=stored["seed"].to_numpy(), conditions=stored[list(CONDITION_COLUMNS)],
                            pixels=pixels, key=key, generation=_measured(cache.meta("synthetic", key), replica, reused))


def _measured(meta: dict, replica: int, reused: bool) -> GenerationRun | None:
    """The measurement stored with a replica's entry (entries from before it was measured have none)."""
    from pydantic import ValidationError

    try:
        return GenerationRun(replica=replica, reused=reused, set_images=meta.get("n"), **meta["generation"])
    except (KeyError, TypeError, ValidationError):
        return None


def device_description(device: str, threads: int | None) -> str:
    """The device a measurement was made on, as the leaderboard shows it."""
    if device.startswith("cuda"):
        import torch

        return f"GPU {torch.cuda.get_device_name(torch.device(device))}"
    import os

    n = threads or os.cpu_count() or 1
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


def _run_generator(submission: Submission, table: pd.DataFrame, size: int, key: str, cache: Cache,
                   limits: Limits, device: str, progress, denied) -> None:
    bs = submission.manifest.batch_size
    shards = [{"name": f"shard-{i:05d}", "start": s, "stop": min(s + bs, len(table))}
              for i, s in enumerate(range(0, len(table), bs))]
    scratch = cache.scratch("synthetic", key)
    todo = [s for s in shards if not _shard_ok(scratch / f"{s['name']}.npy", s, size, submission.name)]
    done = len(table) - sum(s["stop"] - s["start"] for s in todo)
    if progress and done:
        progress(done)

    def accept(name: str, images: np.ndarray) -> None:
        tmp = scratch / f".{name}.tmp.npy"
        np.save(tmp, images)
        tmp.replace(scratch / f"{name}.npy")
        if progress:
            progress(len(images))

    meta = {"submission": submission.name, "n": len(table)}
    if todo:
        request = {"mode": "generate", "size": size, "shards": todo}
        outputs = {s["name"]: (("uint8",), (s["stop"] - s["start"], size, size)) for s in todo}
        started = time.perf_counter()
        run_worker(submission, request,
                   {"conditions.parquet": lambda p: table.to_parquet(p)}, limits,
                   denied=[cache.root, *denied], outputs=outputs, device=device, on_shard=accept,
                   compile_cache=compile_cache_dir(cache, submission), hub=submission.hub)
        seconds = time.perf_counter() - started
        images = len(table) - done
        meta["generation"] = {"images": images, "seconds": round(seconds, 3),
                              "images_per_second": round(images / seconds, 4) if seconds > 0 else 0.0,
                              "device": device_description(device, limits.threads),
                              "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    missing = [s["name"] for s in shards if not (scratch / f"{s['name']}.npy").is_file()]
    if missing:
        raise SubmissionError(f"{submission.name}: generator finished without producing {len(missing)} shard(s)")
    with cache.building("synthetic", key, meta) as tmp:
        out = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(len(table), size, size))
        for s in shards:
            out[s["start"]:s["stop"]] = _resumed_shard(scratch / f"{s['name']}.npy", s, size, submission.name)
        out.flush()
        del out
        table.to_parquet(tmp / "requests.parquet")
    import shutil

    shutil.rmtree(scratch, ignore_errors=True)


def compile_cache_dir(cache: Cache, submission: Submission) -> Path:
    """This submission's own persistent compile cache (torch.compile / Triton), outside its scratch."""
    return cache.root / "compile" / submission.sha256()[:32]


def _resumed_shard(path: Path, shard: dict, size: int, who: str) -> np.ndarray:
    return load_shard(path, ("uint8",), (shard["stop"] - shard["start"], size, size), f"{who} {shard['name']}")


def _shard_ok(path: Path, shard: dict, size: int, who: str) -> bool:
    """A finished shard from an earlier run, intact (header, size); a broken one is deleted and redone."""
    if not path.is_file():
        return False
    try:
        _resumed_shard(path, shard, size, who)
    except SubmissionError:
        path.unlink(missing_ok=True)
        return False
    return True


def _from_precomputed(submission: Submission, table: pd.DataFrame, size: int) -> np.ndarray:
    """Images for the requested ids from a precomputed synthetic set (image folder, a table of
    keys and image paths, or HF datasets), decoded one at a time after a check of each header."""
    from cxrbench.submissions.synthetic_table import decode_image

    pre = submission.manifest.precomputed
    out = np.zeros((len(table), size, size), np.uint8)
    for i, (where, source) in enumerate(_precomputed_sources(submission, table)):
        pixels = decode_image(source, size, where)
        if pre.resize != "none":
            pixels = resize_images([pixels], size, pre.resize)[0]
        if pixels.shape != (size, size):
            raise SubmissionError(f"{printable(where)}: image for {printable(table['request_id'].iloc[i])} is "
                                  f"{pixels.shape}, expected ({size}, {size}) (or set precomputed.resize)")
        out[i] = pixels
    return out


def _precomputed_sources(submission: Submission, table: pd.DataFrame):
    """(where, file path or encoded bytes) of each requested image, in request order."""
    from cxrbench.submissions.synthetic_table import image_files, table_paths

    pre = submission.manifest.precomputed
    root = submission.root / pre.synthetic
    wanted = table["request_id"].tolist()
    if not ((root / "dataset_info.json").is_file() or (root / "state.json").is_file()):
        if pre.table:
            paths = table_paths(submission.root, pre, table, submission.root / "submission.yaml")
        else:
            paths = [root / "images" / f"{w.replace('/', '__')}.png" for w in wanted]
        yield from image_files(paths, table)
        return
    import datasets

    try:  # images stay encoded here: each is decoded by decode_image, after its header is checked
        ds = datasets.load_from_disk(str(root)).cast_column("image", datasets.Image(decode=False))
        ids = ds["request_id"]
    except Exception as exc:  # noqa: BLE001 - a folder datasets cannot read, whatever it raises
        raise SubmissionError(f"{printable(root)}: not a readable datasets folder with columns request_id and "
                              f"image ({printable(str(exc)[:200])})") from None
    index = {rid: i for i, rid in enumerate(ids)}
    missing = [w for w in wanted if w not in index]
    if missing:
        raise SubmissionError(f"{printable(root)}: {len(missing)} requested image(s) missing, e.g. "
                              f"{printable(missing[:3])} (export the requests with `cxrbench tasks requests`)")
    for w in wanted:
        encoded = ds[index[w]]["image"] or {}
        if not isinstance(encoded.get("bytes"), bytes):  # a path-only entry could name any file of the host
            raise SubmissionError(f"{printable(root)}: image of request {printable(w)} is not stored in the "
                                  f"dataset (save it with its bytes, not as a path)")
        yield f"{root} (request {w})", encoded["bytes"]
