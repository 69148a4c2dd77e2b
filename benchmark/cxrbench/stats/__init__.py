"""cxrbench.stats: exact AUROC, DeLong, clustered bootstrap, multiplicity, subgroups, seeds, and the
seed × patient inference behind every reported figure (`seed_patient`).

Pure functions on arrays; no I/O. Results are frozen dataclasses with `to_dict()`.

What the product calls (`PRODUCT`): `auroc`, the seed × patient procedure (`seed_mean`,
`seed_mean_delta`, `eligible_labels`, `design_mde` through `design`), `holm` and `age_band`.
The rest (`REFERENCE`) is never called by `cxrbench evaluate`, `compare` or `publish`: DeLong, the
clustered bootstraps, per-seed aggregates, subgroup reports and the other multiplicity corrections
are kept as independent implementations that tests/stats checks the product's procedure against,
and for analyses of saved predictions by hand (docs/stats.md).
"""

from cxrbench.stats.auroc import AurocResult, LabelAuroc, auroc
from cxrbench.stats.bootstrap import (
    AurocBootstrap,
    BootstrapLabelDelta,
    BootstrapResult,
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
from cxrbench.stats.multiplicity import (
    ChangeSummary,
    LabelChange,
    adjust,
    benjamini_hochberg,
    holm,
    significant_changes,
)
from cxrbench.stats.seed_patient import (
    Eligibility,
    Estimate,
    SeedPatientResult,
    design_mde,
    eligible_labels,
    seed_mean,
    seed_mean_delta,
)
from cxrbench.stats.seeds import SeedAggregate, aggregate_seeds
from cxrbench.stats.subgroups import (
    AGE_BANDS,
    AttributeReport,
    GroupAuroc,
    SubgroupReport,
    age_band,
    subgroup_auroc,
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

#: what the product's scoring calls
PRODUCT = ("auroc", "seed_mean", "seed_mean_delta", "eligible_labels", "design_mde", "holm", "age_band")
#: reference implementations: checked against in tests/stats, not called by the product
REFERENCE = ("delong", "delong_ci", "bootstrap_auroc", "paired_bootstrap", "aggregate_seeds", "subgroup_auroc",
             "adjust", "benjamini_hochberg", "significant_changes")
