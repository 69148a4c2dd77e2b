"""The functions a plan's jobs name: each is handed the cache key of the entry it publishes
(`train`, `audit`) and reads its inputs from the cache by key, or returns its result (`score`).
Generation and a classifier submission's predictions are `synthesize` and `submitted_predictions`
themselves. Real data travels by reference (`RealSet.stored`): a job never carries pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cxrbench.runner.cache import Cache
from cxrbench.runner.datasets import RealSet

if TYPE_CHECKING:
    from cxrbench.runner.score import Scored
    from cxrbench.tasking import EligibilityRule

#: seed → eval set → probabilities (images × labels)
SeedPredictions = dict[int, dict[str, np.ndarray]]


def train(*, cache: Cache, key: str, synthetic_keys: list[str], synthetic_replicas: list[int] | None = None,
          **run) -> None:
    """Train and predict one reference-recipe run on real rows plus the named replicas (numbered
    `synthetic_replicas`; default 0, 1, ...)."""
    from cxrbench.runner.classify import reference_run
    from cxrbench.runner.generate import load_replica

    numbers = synthetic_replicas if synthetic_replicas is not None else range(len(synthetic_keys))
    reference_run(synthetic=[load_replica(cache, k, r) for r, k in zip(numbers, synthetic_keys)], cache=cache,
                  key=key, **run)


def audit(*, cache: Cache, key: str, replica_key: str, conditioning: RealSet, eval_sets: dict[str, RealSet],
          profile: str, device: str, features: str | None = None, feature_weights: str | None = None) -> None:
    """Audit the first replica (its entry holds report.json and the galleries)."""
    from cxrbench.runner.audit_stage import audit_replica
    from cxrbench.runner.generate import load_replica

    audit_replica(load_replica(cache, replica_key, 0), conditioning, eval_sets, profile=profile, cache=cache,
                  device=device, key=key, features=features, feature_weights=feature_weights)


@dataclass
class ScoreOutput:
    """What the score job returns: the record's numbers and the predictions they came from (read
    once, here; the record's predictions table is made from them)."""

    scored: Scored
    preds: SeedPredictions
    base_preds: SeedPredictions


def score(*, cache: Cache, eval_sets: dict[str, RealSet], labels: tuple[str, ...], runs: dict[int, tuple[str, str]],
          base_runs: dict[int, tuple[str, str]], against: str | None, primary_eval_set: str,
          eligibility: EligibilityRule, fixed_submission: bool = False) -> ScoreOutput:
    """Every number of a record from the finished predictions (`runs`: seed → (cache stage, key))."""
    from cxrbench.runner.classify import load_predictions
    from cxrbench.runner.score import score_task

    def by_seed(entries: dict[int, tuple[str, str]]) -> SeedPredictions:
        return {s: load_predictions(cache, stage, key, eval_sets, labels).by_eval_set
                for s, (stage, key) in entries.items()}

    preds, base_preds = by_seed(runs), by_seed(base_runs)
    scored = score_task(eval_sets=eval_sets, labels=labels, preds=preds, base_preds=base_preds, against=against,
                        primary_eval_set=primary_eval_set, eligibility=eligibility, fixed_submission=fixed_submission)
    return ScoreOutput(scored, _as_stored(preds), _as_stored(base_preds))


def _as_stored(preds: SeedPredictions) -> SeedPredictions:
    """float32, the precision the predictions are stored at (half the bytes sent back by a worker)."""
    return {s: {name: p.astype(np.float32) for name, p in by_set.items()} for s, by_set in preds.items()}
