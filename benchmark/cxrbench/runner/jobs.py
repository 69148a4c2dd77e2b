"""The functions a plan's jobs name: each reads its inputs from the cache by key, and either
publishes its own entry (`train`, `audit`) or returns its result (`score`). Generation and a
classifier submission's predictions are `synthesize` and `submitted_predictions` themselves."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cxrbench.runner.cache import Cache
from cxrbench.runner.datasets import RealSet


def train(*, cache: Cache, synthetic_keys: list[str], synthetic_replicas: list[int] | None = None, **run) -> None:
    """Train and predict one reference-recipe run on real rows plus the named replicas (numbered
    `synthetic_replicas`; default 0, 1, ...)."""
    from cxrbench.runner.classify import reference_run
    from cxrbench.runner.generate import load_replica

    numbers = synthetic_replicas if synthetic_replicas is not None else range(len(synthetic_keys))
    reference_run(synthetic=[load_replica(cache, k, r) for r, k in zip(numbers, synthetic_keys)], cache=cache, **run)


def audit(*, cache: Cache, replica_key: str, conditioning: RealSet, eval_sets: dict[str, RealSet], profile: str,
          device: str) -> None:
    """Audit the first replica (its entry holds report.json and the galleries)."""
    from cxrbench.runner.audit_stage import audit_replica
    from cxrbench.runner.generate import load_replica

    audit_replica(load_replica(cache, replica_key, 0), conditioning, eval_sets, profile=profile, cache=cache,
                  device=device)


def score(*, cache: Cache, eval_sets: dict[str, RealSet], labels: tuple[str, ...], runs: dict[int, tuple[str, str]],
          base_runs: dict[int, tuple[str, str]], against: str | None, primary_eval_set: str, eligibility,
          fixed_submission: bool = False):
    """Every number of a record from the finished predictions (`runs`: seed → (cache stage, key))."""
    from cxrbench.runner.classify import load_predictions
    from cxrbench.runner.score import score_task

    def by_seed(entries):
        return {s: load_predictions(cache, stage, key, eval_sets, labels).by_eval_set
                for s, (stage, key) in entries.items()}

    return score_task(eval_sets=eval_sets, labels=labels, preds=by_seed(runs), base_preds=by_seed(base_runs),
                      against=against, primary_eval_set=primary_eval_set, eligibility=eligibility,
                      fixed_submission=fixed_submission)


def without_pixels(real: RealSet) -> RealSet:
    """Rows and labels only: what scoring reads (so a score job does not ship every test image)."""
    return replace(real, pixels=np.zeros((len(real), 0, 0), np.uint8))
