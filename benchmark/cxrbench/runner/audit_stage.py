"""The audit stage: fidelity, adherence, diversity, memorization and leakage of a generator's images.

Run on the first replica (every ratio of every task that conditions on the same rows shares it),
against the real images the generator was allowed to learn from and every image the task scores
on, in the profile's shipped reference feature space; cached like every other stage.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cxrbench.runner.cache import Cache
from cxrbench.runner.datasets import RealSet
from cxrbench.runner.generate import SyntheticReplica


def audit_replica(replica: SyntheticReplica, conditioning: RealSet, eval_sets: dict[str, RealSet], *, profile: str,
                  cache: Cache, device: str = "cpu", key: str | None = None) -> tuple[dict, Path]:
    """The audit report (as a dict) of one synthetic replica, and the folder with its galleries
    (`key`: the audit's cache key when the caller has it, else computed here)."""
    from cxrbench.audit import FeatureCache, RealImages, audit, reference_classifier, reference_extractor

    if key is None:
        key = audit_key(cache, replica.key, conditioning, eval_sets, profile)
    entry = cache.path("audit", key)
    if not cache.has("audit", key):
        classifier = reference_classifier(profile, device)
        extractor = reference_extractor(profile, device, classifier=classifier)
        real = RealImages(images=np.asarray(conditioning.pixels),
                          patient_ids=conditioning.rows["patient_id"].astype(str).to_numpy(),
                          labels=conditioning.rows.reset_index(drop=True))
        test = np.concatenate([np.asarray(es.pixels) for es in eval_sets.values()])
        with cache.building("audit", key) as tmp:
            report = audit(np.asarray(replica.pixels), replica.conditions.reset_index(drop=True), real, test,
                           extractor, classifier, cache=FeatureCache(cache.root / "features"),
                           gallery_dir=tmp / "gallery", device=device)
            (tmp / "report.json").write_text(json.dumps(report.to_dict(), indent=1))
    return json.loads((entry / "report.json").read_text()), entry / "gallery"



def audit_key(cache: Cache, replica_key: str, conditioning: RealSet, eval_sets: dict[str, RealSet],
              profile: str) -> str:
    """The cache key of one replica's audit; ConfigError where the profile ships no reference space."""
    from cxrbench.audit import AUDIT_VERSION
    from cxrbench.audit.reference import provenance

    return cache.key("audit", {
        "synthetic": replica_key, "train": conditioning.content_key, "audit": AUDIT_VERSION,
        "eval": {k: v.content_key for k, v in sorted(eval_sets.items())},
        "space": provenance(profile)["weights_sha256"],
    })
