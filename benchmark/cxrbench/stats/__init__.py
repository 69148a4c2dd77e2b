"""cxrbench.stats: exact AUROC, DeLong, clustered bootstrap, multiplicity, subgroups, seeds, and the
seed × patient inference behind every reported figure (`seed_patient`).

Pure functions on arrays; no I/O. Results are frozen dataclasses with `to_dict()`.
"""

from cxrbench.stats.auroc import AurocResult, LabelAuroc, auroc
from cxrbench.stats.bootstrap import (
    AurocBootstrap,
    BootstrapResult,
    BootstrapLabelDelta,
    LabelInterval,
    bootstrap_auroc,
    paired_bootstrap,
)
from cxrbench.stats.delong import (
    AurocInterval,
    DelongComparison,
    DelongTable,
    delong,
    delong_ci,
)
from cxrbench.stats.errors import StatsError
from cxrbench.stats.seeds import SeedAggregate, aggregate_seeds
from cxrbench.stats.seed_patient import (
    Eligibility,
    Estimate,
    SeedPatientResult,
    design_mde,
    eligible_labels,
    seed_mean,
    seed_mean_delta,
)
from cxrbench.stats.subgroups import (
    AGE_BANDS,
    AttributeReport,
    GroupAuroc,
    SubgroupReport,
    age_band,
    subgroup_auroc,
)
from cxrbench.stats.multiplicity import (
    ChangeSummary,
    LabelChange,
    adjust,
    benjamini_hochberg,
    holm,
    significant_changes,
)

__all__ = [
    "AurocBootstrap",
    "LabelInterval",
    "bootstrap_auroc",
    "SeedAggregate",
    "aggregate_seeds",
    "Eligibility",
    "Estimate",
    "SeedPatientResult",
    "design_mde",
    "eligible_labels",
    "seed_mean",
    "seed_mean_delta",
    "AGE_BANDS",
    "AttributeReport",
    "GroupAuroc",
    "SubgroupReport",
    "age_band",
    "subgroup_auroc",
    "AurocInterval",
    "AurocResult",
    "ChangeSummary",
    "LabelChange",
    "BootstrapResult",
    "DelongComparison",
    "DelongTable",
    "LabelAuroc",
    "BootstrapLabelDelta",
    "StatsError",
    "adjust",
    "auroc",
    "benjamini_hochberg",
    "delong",
    "delong_ci",
    "holm",
    "paired_bootstrap",
    "significant_changes",
]
