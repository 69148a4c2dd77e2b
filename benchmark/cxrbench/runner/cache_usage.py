"""What a cache holds, and freeing it safely (`cxrbench cache du`, `cxrbench cache gc`).

Entries are found by their `COMPLETE` marker; each record `evaluate` writes leaves a small index
in the cache (`records/`) naming the entries it was assembled from, so `gc --keep-published`
keeps exactly the entries behind the records in a published store. An entry is removed by
renaming it aside first (a reader sees it whole or not at all) and never while a lease on it
exists; work in progress of a live builder is never touched.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cxrbench.runner.cache import MARKER, remove_entry, stable_hash
from cxrbench.runner.lease import dead_owner, read_lease
from cxrbench.runner.storage import directory_bytes

#: folder of the cache holding, per record, the entries it was assembled from
RECORDS_FOLDER = "records"
#: folders of derived data that is rebuilt on demand (the audit's feature cache)
DERIVED = ("features",)
#: folders kept by every gc: decoded real pixels (planning reads them) and the indexes themselves
KEPT = ("images", RECORDS_FOLDER, "leaderboard", "compile")
#: suffixes of what builders leave beside entries: a temporary being written, one moved aside
_LEFTOVER = (".tmp", ".old", ".corrupt", ".stale", ".conflict", ".gc")


@dataclass
class Area:
    """One top-level folder of the cache: its entries (stages) or files, and their size."""

    name: str
    entries: int
    bytes: int
    leftovers: int = 0  # temporaries, moved-aside entries, leases and partial generations
    leftover_bytes: int = 0


def _is_leftover(path: Path) -> bool:
    name = path.name
    return name.startswith(".") and (name.endswith(_LEFTOVER) or ".lease" in name or name.endswith(".partial"))


def entries(root: Path) -> Iterator[tuple[str, str, Path]]:
    """(stage, key, path) of every finished entry (`<stage>/<key[:2]>/<key>/COMPLETE`)."""
    for marker in sorted(Path(root).glob(f"*/*/*/{MARKER}")):
        entry = marker.parent
        if not entry.name.startswith(".") and entry.parent.name == entry.name[:2]:
            yield entry.parent.parent.name, entry.name, entry


def usage(root: Path) -> list[Area]:
    """What each top-level folder of the cache holds, largest first."""
    root = Path(root)
    areas = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        stage_entries = [e for e in entries(root) if e[0] == folder.name]
        leftovers = [p for p in folder.glob("*/.*") if _is_leftover(p)]
        leftover_bytes = sum(directory_bytes(p) if p.is_dir() else _size(p) for p in leftovers)
        areas.append(Area(folder.name, len(stage_entries), directory_bytes(folder) - leftover_bytes,
                          len(leftovers), leftover_bytes))
    return sorted(areas, key=lambda a: -(a.bytes + a.leftover_bytes))


def _size(path: Path) -> int:
    try:
        return path.lstat().st_blocks * 512
    except OSError:
        return 0


def record_entries(root: Path, record, job_entries: Iterable[tuple[str, str]]) -> Path:
    """Write the index of one record: the (stage, key) of every entry it was assembled from, under
    the record's content and predictions digests (publishing may re-seal a record; its predictions stay)."""
    from cxrbench.data.atomic import atomic_write_bytes

    path = Path(root) / RECORDS_FOLDER / f"{stable_hash([record.key, record.content_sha256])[:24]}.json"
    payload = {"record": record.key, "digests": [d for d in (record.content_sha256, record.predictions_sha256) if d],
               "entries": sorted(map(list, job_entries))}
    atomic_write_bytes(path, json.dumps(payload, indent=1).encode())
    return path


def published_entries(root: Path, record_files: Iterable[Path]) -> set[tuple[str, str]]:
    """The entries behind the records in `record_files` (matched to the cache's indexes by the records'
    content or predictions sha256)."""
    published: set[str] = set()
    for file in record_files:
        try:
            data = json.loads(Path(file).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            published.update(d for d in (data.get("content_sha256"), data.get("predictions_sha256")) if d)
    keep: set[tuple[str, str]] = set()
    for index in sorted((Path(root) / RECORDS_FOLDER).glob("*.json")):
        try:
            data = json.loads(index.read_text())
        except (OSError, ValueError):
            continue
        if published.intersection(data.get("digests", [])):
            keep.update((stage, key) for stage, key in data.get("entries", []))
    return keep


@dataclass
class Removal:
    path: Path
    bytes: int
    why: str


def _lease_held(lease: Path) -> bool:
    """A lease file exists and its owner is not known to be dead (a remote owner counts as alive)."""
    if not lease.exists():
        return False
    owner, _ = read_lease(lease)
    return dead_owner(owner) is None


def _leftover_removable(path: Path) -> bool:
    """A builder's leftover whose builder is gone: not a live lease, not the temporary or partial
    generation of an entry whose lease is held."""
    name = path.name
    if ".lease" in name and not name.endswith(".stale"):
        return not _lease_held(path)
    key = name[1:].split(".")[0]
    return not _lease_held(path.parent / f".{key}.lease")


def plan_gc(root: Path, keep: set[tuple[str, str]] | None) -> list[Removal]:
    """What `gc` removes: every entry not in `keep` (and under no lease; no entry when `keep` is None),
    the derived feature cache, and the leftovers of builders that are gone."""
    root = Path(root)
    out = []
    for stage, key, path in entries(root) if keep is not None else ():
        if stage in KEPT or (stage, key) in (keep or ()) or _lease_held(path.parent / f".{key}.lease"):
            continue
        out.append(Removal(path, directory_bytes(path), f"{stage} entry not behind a published record"))
    busy = any(_lease_held(p) for p in root.glob("*/*/.*.lease"))
    for folder in DERIVED:  # a running job may be reading them: only when nothing is being built
        if (root / folder).is_dir() and not busy:
            out.append(Removal(root / folder, directory_bytes(root / folder), "derived (rebuilt when needed)"))
    for path in sorted(root.glob("*/*/.*")):
        if path.parent.parent.name not in KEPT and _is_leftover(path) and _leftover_removable(path):
            out.append(Removal(path, directory_bytes(path) if path.is_dir() else _size(path), "left by a builder that is gone"))
    return out


def remove(removal: Removal) -> None:
    """Rename aside, then delete: a reader sees the entry whole or not at all."""
    path = removal.path
    if path.is_dir() and not path.name.startswith("."):
        remove_entry(path, "gc")
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
