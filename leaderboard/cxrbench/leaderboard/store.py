"""The leaderboard's store: where published records live and how the app finds them.

Layout (one reviewable JSON file per record, its predictions beside it):

    leaderboard/cxrbench/leaderboard/results/<profile>/<budget>/<task>@<task version>/<submission>@<version>.json
                                                                 <predictions_file named by the record>
                                                                 pairwise.json

Records scored on held-out eval sets (`cxrbench.trust.populations`) live one folder deeper, in
`<task>@<task version>/held-out-<key fingerprint>/`, beside the dev records of the same task:
their numbers are about another population, so they get their own `pairwise.json`.

`<task>` is the task name without its `<profile>/` prefix, any other `/` replaced by `__`
(`phantom/supplement-100` → `phantom/quick/supplement-100@1/`). The budget is part of the path
because `quick` and `standard` numbers of one task are not comparable. The predictions keep the
file name the sealed record gives them (`cxrbench evaluate` writes `<submission>@<version>.predictions.parquet`),
so `cxrbench.compare.compare_records` finds them beside the record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cxrbench.results import Comparison, record_path, task_folder

__all__ = ["PAIRWISE_FILE", "default_results_dir", "record_path", "task_folder"]  # the layout is results.py's

PAIRWISE_FILE = "pairwise.json"
#: the store's trusted public keys (`trusted_keys.py`) and the verified baseline arms (`baselines.py`)
TRUSTED_KEYS_FILE = "trusted_keys.json"
BASELINES_FILE = "baselines.json"
#: JSON files of the store that are not records
NOT_RECORDS = frozenset({PAIRWISE_FILE, TRUSTED_KEYS_FILE, BASELINES_FILE})


def default_results_dir() -> Path:
    """The shipped store (`leaderboard/cxrbench/leaderboard/results/`), or `$CXRBENCH_RESULTS` when set."""
    env = os.environ.get("CXRBENCH_RESULTS")
    return Path(env) if env else Path(__file__).resolve().parent / "results"


def scan(root: Path) -> list[tuple[str, int, int]]:
    """(path relative to root, size, mtime_ns) of every record file, sorted; pairwise, trusted-keys and
    baselines files and hidden files/folders (temp files of atomic writes) are not records. os.scandir, no Path
    objects: the app calls this on every rerun."""
    out: list[tuple[str, int, int]] = []

    def walk(folder: str, prefix: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir(follow_symlinks=False):
                walk(e.path, f"{prefix}{e.name}/")
            elif e.name.endswith(".json") and e.name not in NOT_RECORDS:
                st = e.stat()
                out.append((prefix + e.name, st.st_size, st.st_mtime_ns))

    walk(str(root), "")
    return sorted(out)


def record_files(root: Path) -> list[Path]:
    """Every record file in the store (sorted by relative path)."""
    return [Path(root) / rel for rel, _, _ in scan(root)]


def pairwise_files(root: Path) -> list[Path]:
    root = Path(root)
    return sorted(root.rglob(PAIRWISE_FILE)) if root.is_dir() else []


def submission_label(name: str, version: str) -> str:
    return f"{name}@{version}"


def read_pairwise(path: Path) -> dict:
    """One task's stored pairwise comparisons; {} when absent. Comparisons are validated."""
    path = Path(path)
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    for pair in raw.get("pairs", []):
        pair["comparisons"] = [Comparison.model_validate(c) for c in pair.get("comparisons", [])]
    return raw


def pairwise_to_json(data: dict) -> str:
    out = dict(data)
    out["pairs"] = [
        {**pair, "comparisons": [c.model_dump(mode="json") if isinstance(c, Comparison) else c
                                 for c in pair["comparisons"]]}
        for pair in data.get("pairs", [])
    ]
    return json.dumps(out, indent=2, allow_nan=False) + "\n"
