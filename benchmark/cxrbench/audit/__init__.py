"""The generator audit: fidelity, condition adherence, diversity, memorization and test leakage.

`audit(...)` takes arrays and returns an `AuditReport` (`.to_dict()` for the result record);
`cli_table(report)` renders it. Feature spaces live in `features` (the shipped reference space in
`reference`), nearest neighbours in `neighbours`, and each metric family in its own module.
"""

from cxrbench.audit.features import (
    ClassifierFeatures,
    FeatureCache,
    FeatureExtractor,
    PixelExtractor,
    check_images,
    content_hash,
)
from cxrbench.audit.neighbours import nearest_neighbours
from cxrbench.audit.phantom_truth import rendered_truth
from cxrbench.audit.reference import reference_classifier, reference_extractor
from cxrbench.audit.report import AUDIT_VERSION, AuditConfig, AuditReport, RealImages, audit
from cxrbench.audit.table import cli_table

__all__ = [
    "AUDIT_VERSION", "AuditConfig", "AuditReport", "ClassifierFeatures", "FeatureCache", "FeatureExtractor",
    "PixelExtractor", "RealImages", "audit", "check_images", "cli_table", "content_hash", "nearest_neighbours",
    "reference_classifier", "reference_extractor", "rendered_truth",
]
