"""The verified reference arms of a store: `baselines.json` at its root (`cxrbench.trust.baseline_arm`).

For each (budget, reference run@task version) and eval population: the digests of the
evaluator's own reference arm per (eval set, seed), taken from the first record signed by a
trusted key, and its macro AUROC per (eval set, seed). A later record's arm passes when its
digests are the same; when its bytes differ (another CPU, instruction set or thread count:
`docs/reproducibility.md`), when its seed-mean macro AUROC, recomputed from its predictions, is
within what that setting's noise explains of the evaluator's on every eval set (a paired test over
the same seeds, `cxrbench.reproducibility.paired_tolerance`). Anything else is refused, naming
where and by how much: the Δ would be taken against a baseline the evaluator never computed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cxrbench.data.atomic import atomic_write_bytes
from cxrbench.leaderboard.standing import population_of
from cxrbench.leaderboard.store import BASELINES_FILE
from cxrbench.reproducibility import AUROC_FLOOR, paired_tolerance
from cxrbench.results import ResultRecord
from cxrbench.trust.baseline_arm import arm_differences, arm_digests, reference_arm

#: eval set → seed → macro AUROC of a reference arm (None: the labels were not held here)
ArmMacros = dict[str, dict[str, float]]


def _arm_key(record: ResultRecord, arm: str) -> str:
    return f"{record.task.budget}/{arm}@{record.task.version}"  # the arm names its task, profile included


def read_baselines(store: Path) -> dict:
    path = Path(store) / BASELINES_FILE
    return json.loads(path.read_text()) if path.is_file() else {"arms": {}}


def verified_arm(store: Path, record: ResultRecord) -> dict | None:
    """The store's verified arm for `record`'s reference arm and eval population (None: none set)."""
    arm = reference_arm(record)
    if arm is None:
        return None
    return read_baselines(store)["arms"].get(_arm_key(record, arm[0]), {}).get(population_of(record))


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _compare_macros(mine: ArmMacros, verified: ArmMacros) -> tuple[list[str], float]:
    """Eval sets whose seed-mean macro AUROC (over this record's seeds) is beyond what the setting's
    noise explains of the evaluator's on the same seeds, as text; and the largest difference."""
    beyond, largest = [], 0.0
    for eval_set, seeds in sorted(mine.items(), key=lambda kv: (kv[0] != "internal_test", kv[0])):
        theirs = verified.get(eval_set, {})
        missing = sorted(set(seeds) - set(theirs), key=int)
        if missing:
            beyond.append(f"{eval_set}: seed {missing[0]} is not a run the evaluator made")
            continue
        order = sorted(seeds, key=int)
        a, b = [seeds[s] for s in order], [theirs[s] for s in order]
        gap = abs(_mean(a) - _mean(b))
        allowed = paired_tolerance(a, b) or AUROC_FLOOR  # one seed: no spread to judge by, the floor
        largest = max(largest, gap)
        if gap > allowed:
            beyond.append(f"{eval_set}: macro AUROC {_mean(a):.4f} here, {_mean(b):.4f} in the evaluator's reference "
                          f"run (±{allowed:.4f} explained by the setting)")
    return beyond, largest


def check_arm(store: Path, record: ResultRecord, table: pd.DataFrame,
              macros: ArmMacros | None) -> tuple[str | None, str | None]:
    """(refusal, note) for a record's reference arm; `macros`: its arm's macro AUROC recomputed from
    its predictions (None where the labels are not held here)."""
    arm = reference_arm(record)
    if arm is None:
        return None, None
    verified = verified_arm(store, record)
    if verified is None:
        return None, (f"reference arm {arm[0]} ({population_of(record)}) not checked: no record signed by a trusted "
                      f"key has set the verified one in this store yet")
    differ = arm_differences(arm_digests(table, arm[1], record.labels), verified["digests"])
    if not differ:
        return None, None
    where = f"{differ[0]}" + (f" and {len(differ) - 1} more" if len(differ) > 1 else "")
    if macros is None or not verified.get("macro_auroc"):
        return (f"its {arm[0]} arm is not the evaluator's reference run ({where} differ from the verified arm set "
                f"by {verified['from']}), and its labels are not held here to compare the two within the "
                f"reproducibility tolerance"), None
    beyond, largest = _compare_macros(macros, verified["macro_auroc"])
    if beyond:
        return (f"its {arm[0]} arm is not the evaluator's reference run ({where} differ from the verified arm set by "
                f"{verified['from']}; " + "; ".join(beyond)
                + "): a Δ must be taken against the evaluator's own baseline"), None
    return None, (f"reference arm {arm[0]} of {record.submission.name}@{record.submission.version}: other bytes than "
                  f"the evaluator's ({where}: another CPU, instruction set or thread count), macro AUROC within the "
                  f"setting's noise of it (largest difference {largest:.4f})")


def register_arm(store: Path, record: ResultRecord, table: pd.DataFrame, entry: str, macros: ArmMacros | None) -> bool:
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
                        "macro_auroc": macros or {},
                        "digests": arm_digests(table, arm[1], record.labels)}
    write_baselines(store, data)
    return True


def write_baselines(store: Path, data: dict) -> None:
    atomic_write_bytes(Path(store) / BASELINES_FILE, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
