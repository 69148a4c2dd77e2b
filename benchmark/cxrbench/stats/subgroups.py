"""AUROC per subgroup (sex, age band, race, view, site): worst group, largest gap, CIs.

Per label, each group gets its AUROC with a DeLong CI. The group's macro averages the labels
that are defined on the whole test set; a group in which one of them has a single class has no
comparable macro: it is flagged undefined with the reason and left out of the worst group and
the gap. With `patient_ids`, a clustered bootstrap (patients drawn once for all groups, so the
groups share replicates) gives CIs for each group's macro and for the gap between the best and worst group, both
named on the full set and held fixed across replicates (re-choosing them per replicate would
bias the gap upwards).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from cxrbench.stats._inputs import check_confidence
from cxrbench.stats._record import Record
from cxrbench.stats.bootstrap import bootstrap_aurocs, percentile_ci, prepare
from cxrbench.stats.delong import AurocInterval, delong_ci
from cxrbench.stats.errors import StatsError

ATTRIBUTES = ("sex", "age_band", "race", "view", "site")
#: Age bands (years): [lower, upper) and their names; a missing age is "unknown".
AGE_BANDS = ((0.0, 40.0, "<40"), (40.0, 60.0, "40-60"), (60.0, 80.0, "60-80"),
             (80.0, np.inf, ">=80"))
UNKNOWN = "unknown"


def age_band(age: ArrayLike) -> np.ndarray:
    """Age band names (`<40`, `40-60`, `60-80`, `>=80`, `unknown`) for ages in years."""
    a = pd.to_numeric(pd.Series(np.asarray(age, dtype=object)), errors="coerce").to_numpy(float)
    out = np.full(a.shape, UNKNOWN, dtype=object)
    for lo, hi, name in AGE_BANDS:
        out[(a >= lo) & (a < hi)] = name
    return out


@dataclass(frozen=True)
class GroupAuroc(Record):
    attribute: str
    group: str
    n: int
    n_patients: int | None
    per_label: tuple[AurocInterval, ...]
    macro: float
    macro_ci: tuple[float, float]
    reason: str | None = None  # why `macro` is NaN, else None

    @property
    def defined(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class AttributeReport(Record):
    """All groups of one attribute, the worst and best group's macro AUROC and their gap."""

    attribute: str
    groups: tuple[GroupAuroc, ...]
    worst_group: str | None
    worst_macro: float
    best_group: str | None
    best_macro: float
    gap: float  # best − worst macro AUROC among defined groups
    # percentile CI of macro(best) − macro(worst), the two groups held fixed (needs patient_ids)
    gap_ci: tuple[float, float]
    reason: str | None = None

    def __getitem__(self, group: str) -> GroupAuroc:
        for g in self.groups:
            if g.group == group:
                return g
        raise KeyError(group)


@dataclass(frozen=True)
class SubgroupReport(Record):
    attributes: tuple[AttributeReport, ...]
    macro_labels: tuple[str, ...]
    confidence: float
    n_replicates: int
    seed: int
    ci_method: str

    def __getitem__(self, attribute: str) -> AttributeReport:
        for a in self.attributes:
            if a.attribute == attribute:
                return a
        raise KeyError(attribute)


def _group_order(name: str) -> tuple[bool, int, str]:
    bands = [b[2] for b in AGE_BANDS]
    return (name == UNKNOWN, bands.index(name) if name in bands else -1, name)


def _group_columns(metadata: pd.DataFrame | Mapping[str, Any], attributes: Sequence[str] | None,
                   n: int) -> dict[str, np.ndarray]:
    cols = metadata if isinstance(metadata, Mapping) else {c: metadata[c] for c in metadata.columns}
    explicit = attributes is not None
    wanted = ATTRIBUTES if attributes is None else tuple(attributes)
    out = {}
    for attr in wanted:
        if attr in cols:
            values = np.asarray(cols[attr], dtype=object)
        elif attr == "age_band" and "age" in cols:
            values = age_band(cols["age"])
        elif explicit:
            raise StatsError(f"metadata has no column {attr!r} (have: {', '.join(map(str, cols))})")
        else:
            continue
        if values.shape != (n,):
            raise StatsError(f"metadata column {attr!r}: {values.shape[0]} values for {n} images")
        out[attr] = np.array([UNKNOWN if pd.isna(v) else str(v) for v in values], dtype=object)
    if not out:
        raise StatsError(f"metadata has none of the subgroup columns {', '.join(ATTRIBUTES)}")
    return out


def subgroup_auroc(y_true: ArrayLike, y_score: ArrayLike, metadata: pd.DataFrame | Mapping[str, Any], *,
                   attributes: Sequence[str] | None = None, labels: Sequence[str] | None = None,
                   patient_ids: ArrayLike | None = None,
                   n_replicates: int = 1000, seed: int = 0,
                   confidence: float = 0.95) -> SubgroupReport:
    """AUROC per label and macro within each group of each attribute.

    `metadata`: a DataFrame or mapping with one value per image for `sex`, `age` (banded by
    `AGE_BANDS`) or `age_band`, `race`, `view`, `site` (default: those present; explicit
    `attributes` must all be present). Per-label CIs are DeLong's; macro and gap CIs are
    clustered-bootstrap percentiles when `patient_ids` is given, else NaN.
    """
    confidence = check_confidence(confidence)
    score_arr = np.asarray(y_score)
    prep = prepare(y_true, [score_arr], np.zeros(len(score_arr)) if patient_ids is None
                   else patient_ids, labels)
    columns = _group_columns(metadata, attributes, prep.y.shape[0])
    macro_idx = np.flatnonzero(prep.defined)
    if macro_idx.size == 0:
        raise StatsError("subgroup_auroc: no label has both positive and negative rows")
    subsets, where = [], []
    for attr, values in columns.items():
        for group in sorted(set(values), key=_group_order):
            subsets.append(values == group)
            where.append((attr, group))
    boot = None
    if patient_ids is not None:
        boot = bootstrap_aurocs(prep, n_replicates, seed, subsets)[:, 0][:, macro_idx]  # (S, M, R)
        boot_macro = boot.mean(axis=1)  # NaN where a label lost a class in that replicate
    nan2 = (float("nan"), float("nan"))
    reports = []
    for attr in columns:
        groups = []
        for s, (a, group) in enumerate(where):
            if a != attr:
                continue
            mask = subsets[s]
            per_label = cast(tuple[AurocInterval, ...],  # (N, L) labels: one interval per label
                             delong_ci(prep.y[mask], prep.scores[0, mask], labels=prep.names, confidence=confidence))
            missing = [per_label[j].label for j in macro_idx if np.isnan(per_label[j].auc)]
            reason = (f"no AUROC in this group for {', '.join(missing)}" if missing else None)
            macro = float("nan") if missing else float(np.mean([per_label[j].auc for j in macro_idx]))
            ci = nan2 if boot is None or missing else percentile_ci(boot_macro[s], confidence)
            n_pat = None if patient_ids is None else int(np.unique(prep.patients[mask]).size)
            groups.append(GroupAuroc(attr, group, int(mask.sum()), n_pat, per_label, macro, ci,
                                     reason))
        defined = [g for g in groups if g.defined]
        if not defined:
            reports.append(AttributeReport(attr, tuple(groups), None, float("nan"), None,
                                           float("nan"), float("nan"), nan2,
                                           "no group has every macro label defined"))
            continue
        worst = min(defined, key=lambda g: g.macro)
        best = max(defined, key=lambda g: g.macro)
        gap_ci = nan2
        if boot is not None:
            # the two groups named on the full set stay fixed across replicates: a CI for their
            # difference (max − min re-chosen per replicate would be biased upwards)
            s_best = where.index((attr, best.group))
            s_worst = where.index((attr, worst.group))
            gap_ci = percentile_ci(boot_macro[s_best] - boot_macro[s_worst], confidence)
        reports.append(AttributeReport(attr, tuple(groups), worst.group, worst.macro, best.group,
                                       best.macro, best.macro - worst.macro, gap_ci))
    method = ("per label: DeLong normal CI; macro and gap: clustered bootstrap percentile"
              if patient_ids is not None else "per label: DeLong normal CI; no macro CI "
              "(pass patient_ids)")
    return SubgroupReport(tuple(reports), tuple(prep.names[j] for j in macro_idx), confidence,
                          int(n_replicates) if patient_ids is not None else 0, int(seed), method)
