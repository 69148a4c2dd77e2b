"""Load the store into tables, fast: a record is parsed and hash-checked once, then cached.

A cold load parses every record (pydantic), recomputes its `content_sha256` and flattens it. The
tables and a manifest of (size, mtime) per file are then written to a cache folder; a later load
stats the files and re-reads only new or changed ones. Files that fail validation are listed in
`Tables.skipped` with the reason (and stay skipped until they change).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import pandas as pd
from pyarrow import feather

from cxrbench.cache_location import cache_from_env
from cxrbench.data.atomic import atomic_write_bytes as write_atomic
from cxrbench.leaderboard.store import scan
from cxrbench.leaderboard.tables import TABLES, Tables, build_tables, concat_tables, record_rows
from cxrbench.results import SCHEMA_VERSION, RecordError, ResultRecord, read_record

CACHE_FORMAT = 5  # 2: uncompressed Arrow IPC (feather), memory-mapped on read; 3: v2 comparison and cost columns;
# 4: eval population and signer columns; 5: per-label Δ CIs, generation cost measured by generation only
MANIFEST = "manifest.json"


def read_verified(path: Path) -> ResultRecord:
    """Parse a record and check its schema version and content hash; RecordError says what failed."""
    try:
        record = ResultRecord.model_validate_json(Path(path).read_bytes())
    except Exception:  # re-read the slow way for a message that names the field
        return read_record(path, verify=True)
    try:
        record.verify()
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from None
    if record.status != "complete":
        raise RecordError(f"{path}: status is {record.status!r}, not 'complete'")
    return record


def store_signature(root: Path) -> tuple:
    """(relative path, size, mtime_ns) of every record file, sorted: changes whenever the store does."""
    return tuple(scan(root))


def default_cache_dir(root: Path) -> Path:
    base = cache_from_env() or Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cxrbench")
    tag = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return Path(base) / "leaderboard" / tag


def parse_files(root: Path, rels: list[str]) -> tuple[Tables, list[tuple[str, str]]]:
    """Parse, verify (content hash and signature) and flatten the given files (no cache)."""
    from cxrbench.trust.signing import check_signature

    rows: dict[str, list] = {name: [] for name in TABLES}
    skipped = []
    for rel in rels:
        try:
            record = read_verified(Path(root) / rel)
        except RecordError as exc:
            skipped.append((rel, str(exc).replace(f"{Path(root) / rel}: ", "")))
            continue
        except OSError as exc:
            skipped.append((rel, f"cannot read: {exc}"))
            continue
        check = check_signature(record)
        if check.status == "invalid":
            skipped.append((rel, f"signature by key {check.fingerprint} does not verify: {check.problem}"))
            continue
        for name, part in record_rows(record, rel, check).items():
            rows[name].extend(part)
    return build_tables(rows, skipped), skipped


def load_tables(root: Path, *, cache_dir: Path | None | bool = None) -> Tables:
    """Every record in the store as tables, each record's standing judged against the store's
    trusted keys as they are now (`standing.py`). `cache_dir=False` disables the on-disk cache."""
    from cxrbench.leaderboard.boards import with_standing

    return with_standing(_load_tables(Path(root), cache_dir), Path(root))


def _load_tables(root: Path, cache_dir: Path | None | bool) -> Tables:
    signature = store_signature(root)
    current = {rel: [size, mtime] for rel, size, mtime in signature}
    if cache_dir is False:
        tables, _ = parse_files(root, list(current))
        return tables
    cache = Path(cache_dir) if cache_dir else default_cache_dir(root)
    manifest, cached = _read_cache(cache)
    known = manifest.get("files", {}) if manifest else {}
    unchanged = {rel for rel, stamp in current.items() if rel in known and known[rel]["stamp"] == stamp}
    kept_ok = {rel for rel in unchanged if known[rel]["skipped"] is None}
    kept_skipped = [(rel, known[rel]["skipped"]) for rel in sorted(unchanged) if known[rel]["skipped"] is not None]
    todo = [rel for rel in current if rel not in unchanged]
    if cached is not None and not todo and set(known) == set(current):
        cached.skipped = kept_skipped
        return cached
    fresh, fresh_skipped = parse_files(root, todo)
    parts = [fresh]
    if cached is not None and kept_ok:
        parts.insert(0, Tables(**{name: _keep(getattr(cached, name), kept_ok) for name in TABLES}))
    skipped = sorted(kept_skipped + fresh_skipped)
    tables = concat_tables(parts, skipped)
    reasons = dict(skipped)
    _write_cache(cache, tables, {rel: {"stamp": stamp, "skipped": reasons.get(rel)} for rel, stamp in current.items()})
    return tables


def _keep(df: pd.DataFrame, files: set[str]) -> pd.DataFrame:
    return df[df["file"].isin(files)] if len(df) else df


def _read_cache(cache: Path) -> tuple[dict | None, Tables | None]:
    try:
        manifest = json.loads((cache / MANIFEST).read_text())
        if manifest.get("format") != CACHE_FORMAT or manifest.get("schema_version") != SCHEMA_VERSION:
            return None, None
        gen = cache / manifest["generation"]
        frames = {name: feather.read_table(gen / f"{name}.arrow", memory_map=True).to_pandas() for name in TABLES}
        return manifest, Tables(**frames)
    except Exception:  # absent, torn, corrupt (pyarrow raises its own errors) or another version: rebuild
        return None, None


def _write_cache(cache: Path, tables: Tables, files: dict) -> None:
    """Write the tables into a new generation folder, then point the manifest at it."""
    try:
        generation = f"gen-{uuid.uuid4().hex[:12]}"
        gen = cache / generation
        gen.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            df = getattr(tables, name).reset_index(drop=True)
            feather.write_feather(df, gen / f"{name}.arrow", compression="uncompressed")
        manifest = {"format": CACHE_FORMAT, "schema_version": SCHEMA_VERSION, "generation": generation,
                    "files": files}
        write_atomic(cache / MANIFEST, json.dumps(manifest).encode())
        for old in cache.glob("gen-*"):
            if old.name != generation:
                shutil.rmtree(old, ignore_errors=True)
    except OSError:  # a read-only cache location only costs speed
        pass


PAIRWISE_COLUMNS = ("task", "task_version", "budget", "population", "eval_set", "a", "b", "delta", "p_value",
                    "method", "fresh")


def load_pairwise(root: Path, records: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Every stored paired test as a row (a, b, delta = a − b, p_value), and warnings.

    A pair is `fresh` only when both records' current content hashes are the ones it was computed
    on; the ranks ignore stale pairs. p_value: see `fields.p_value`.
    """
    from cxrbench.leaderboard.store import pairwise_files, read_pairwise

    sha = {(r.task, r.task_version, r.budget, r.population, r.entry): r.content_sha256
           for r in records[["task", "task_version", "budget", "population", "entry", "content_sha256"]]
           .itertuples(index=False)}
    rows, warnings = [], []
    for path in pairwise_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            data = read_pairwise(path)
            task, version, budget = data["task"], int(data["task_version"]), data["budget"]
            population = data.get("population", "dev")  # written before held-out sets existed: dev
            for pair in data["pairs"]:
                fresh = (sha.get((task, version, budget, population, pair["a"])) == pair["a_sha256"]
                         and sha.get((task, version, budget, population, pair["b"])) == pair["b_sha256"])
                for c in pair["comparisons"]:
                    rows.append(dict(task=task, task_version=version, budget=budget, population=population,
                                     eval_set=c.eval_set, a=pair["a"], b=pair["b"], delta=c.delta,
                                     p_value=c.p_value, method=c.method, fresh=fresh))
        except Exception as exc:  # a malformed pairwise file only costs the paired ranks of one task
            warnings.append(f"{rel}: unreadable pairwise tests ({type(exc).__name__}: {exc})")
    df = pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS))
    stale = df[~df["fresh"].astype(bool)] if len(df) else df
    if len(stale):
        warnings.append(f"{stale[['a', 'b']].drop_duplicates().shape[0]} stored pairwise test(s) are stale "
                        f"(a record changed since); those pairs are ranked by CI overlap")
    return df, warnings
