"""The audit stage: fidelity, adherence, diversity, memorization and leakage of a generator's images.

Run on the first replica (every ratio of every task that conditions on the same rows shares it),
against the real images the generator was allowed to learn from and every image the task scores
on, in the profile's default feature space or the one named (`cxrbench.audit.spaces`); cached like
every other stage, keyed by the space's weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cxrbench.runner.cache import Cache
from cxrbench.runner.datasets import RealSet
from cxrbench.runner.generate import SyntheticReplica


def audit_replica(replica: SyntheticReplica, conditioning: RealSet, eval_sets: dict[str, RealSet], *, profile: str,
                  cache: Cache, device: str = "cpu", key: str | None = None, features: str | None = None,
                  feature_weights: str | None = None) -> tuple[dict, Path]:
    """The audit report (as a dict) of one synthetic replica, and the folder with its galleries
    (`key`: the audit's cache key when the caller has it, else computed here)."""
    from cxrbench.audit import FeatureCache, RealImages, audit
    from cxrbench.audit.spaces import load_space, space_for

    if key is None:
        key = audit_key(cache, replica.key, conditioning, eval_sets, profile, features, feature_weights)
    entry = cache.path("audit", key)
    if not cache.has("audit", key):
        space = load_space(space_for(profile, features), weights=feature_weights, device=device, profile=profile)
        real = RealImages(images=np.asarray(conditioning.pixels),
                          patient_ids=conditioning.rows["patient_id"].astype(str).to_numpy(),
                          labels=conditioning.rows.reset_index(drop=True))
        test = np.concatenate([np.asarray(es.pixels) for es in eval_sets.values()])
        with cache.building("audit", key) as tmp:
            report = audit(np.asarray(replica.pixels), replica.conditions.reset_index(drop=True), real, test,
                           space.extractor, space.classifier, cache=FeatureCache(cache.root / "features"),
                           gallery_dir=tmp / "gallery", device=device, space_info=space.info)
            (tmp / "report.json").write_text(json.dumps(report.to_dict(), indent=1))
    return json.loads((entry / "report.json").read_text()), entry / "gallery"



def audit_key(cache: Cache, replica_key: str, conditioning: RealSet, eval_sets: dict[str, RealSet],
              profile: str, features: str | None = None, feature_weights: str | None = None) -> str:
    """The cache key of one replica's audit; ConfigError where the space has no weights (or the
    profile no default space)."""
    from cxrbench.audit import AUDIT_VERSION
    from cxrbench.audit.spaces import space_for, space_identity

    identity = space_identity(space_for(profile, features), feature_weights)
    return cache.key("audit", {
        "synthetic": replica_key, "train": conditioning.content_key, "audit": AUDIT_VERSION,
        "eval": {k: v.content_key for k, v in sorted(eval_sets.items())},
        # the phantom space keyed as before it had a name (its weights' sha256 alone)
        "space": identity["weights_sha256"] if identity["name"] == "phantom" else identity,
    })
