"""The verified reference arms of a store: `baselines.json` at its root (`cxrbench.trust.baseline_arm`).

For each (profile, budget, reference run@task version) and eval population, the digests of the
evaluator's own reference arm per (eval set, seed), taken from the first record signed by a
trusted key, with the seed-mean macro AUROC that record states for it. `publish` compares every
later record's arm with it and refuses one that differs, naming where and by how much.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cxrbench.data.atomic import atomic_write_bytes
from cxrbench.leaderboard.standing import population_of
from cxrbench.leaderboard.store import BASELINES_FILE
from cxrbench.results import ResultRecord
from cxrbench.trust.baseline_arm import arm_differences, arm_digests, claimed_baseline_macro, reference_arm


def _arm_key(record: ResultRecord, arm: str) -> str:
    return f"{record.task.profile}/{record.task.budget}/{arm}@{record.task.version}"


def read_baselines(store: Path) -> dict:
    path = Path(store) / BASELINES_FILE
    return json.loads(path.read_text()) if path.is_file() else {"arms": {}}


def check_arm(store: Path, record: ResultRecord, table: pd.DataFrame) -> tuple[str | None, str | None]:
    """(refusal, note): refusal names how the record's reference arm differs from the verified one;
    note says when there is nothing verified to compare with yet."""
    arm = reference_arm(record)
    if arm is None:
        return None, None
    verified = read_baselines(store)["arms"].get(_arm_key(record, arm[0]), {}).get(population_of(record))
    if verified is None:
        return None, (f"reference arm {arm[0]} ({population_of(record)}) not checked: no record signed by a trusted "
                      f"key has set the verified one in this store yet")
    differ = arm_differences(arm_digests(table, arm[1], list(record.task.labels)), verified["digests"])
    if not differ:
        return None, None
    mine, theirs = claimed_baseline_macro(record), verified.get("macro_auroc", {})
    named = "; ".join(f"{e}: {mine[e]:.4f} here, {theirs[e]:.4f} in the evaluator's reference run"
                      for e in sorted(mine) if e in theirs and abs(mine[e] - theirs[e]) > 1e-12)
    more = f" and {len(differ) - 1} more" if len(differ) > 1 else ""
    return (f"its {arm[0]} arm is not the evaluator's reference run ({differ[0]}{more} differ from the verified "
            f"arm set by {verified['from']})" + (f"; its macro AUROC {named}" if named else "")
            + ": a Δ must be taken against the evaluator's own baseline"), None


def register_arm(store: Path, record: ResultRecord, table: pd.DataFrame, entry: str) -> bool:
    """Keep the reference arm of a record signed by a trusted key as the verified one (when none is set)."""
    arm = reference_arm(record)
    if arm is None:
        return False
    data = read_baselines(store)
    slot = data["arms"].setdefault(_arm_key(record, arm[0]), {})
    population = population_of(record)
    if population in slot:
        return False
    slot[population] = {"from": f"{entry} on {record.task.name}", "record_sha256": record.content_sha256,
                        "macro_auroc": claimed_baseline_macro(record),
                        "digests": arm_digests(table, arm[1], list(record.task.labels))}
    atomic_write_bytes(Path(store) / BASELINES_FILE, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
    return True
