"""The one place that reads a Comparison's numbers (for the leaderboard and the CLI tables).

Written against record schema v2 (issue 12): `delta`, `ci_low`, `ci_high`, `p_value`, `mde`,
`verdict`, `stars`, `endpoint`. Records of schema v1 (`delta_macro_auroc`, `bootstrap_ci_*`,
`bootstrap_p_value`, `seed_aware_p_value`) are read through the fallbacks marked `v1`; once every
published record is v2 those lines go, and nothing else changes.
"""

from __future__ import annotations

from typing import Any

#: verdicts of schema v2, in display words
VERDICTS = {"better": "better", "worse": "worse", "no_detectable_difference": "no detectable difference",
            "inconclusive": "inconclusive"}


def _first(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def delta(c) -> float | None:
    """Δ macro AUROC (this − the comparison's `against`)."""
    return _first(c, "delta", "delta_macro_auroc")  # v1: delta_macro_auroc


def ci(c) -> tuple[float | None, float | None]:
    """95 % CI of Δ."""
    return _first(c, "ci_low", "bootstrap_ci_low"), _first(c, "ci_high", "bootstrap_ci_high")  # v1: bootstrap_ci_*


def p_value(c) -> float | None:
    """The p-value of Δ (v2: the task's one inference procedure; v1: seed-aware when stored, else bootstrap)."""
    if hasattr(c, "delta"):
        return getattr(c, "p_value", None)
    return _first(c, "seed_aware_p_value", "bootstrap_p_value")  # v1


def mde(c) -> float | None:
    """Minimum detectable effect of the comparison (None for v1 records, which did not compute it)."""
    return getattr(c, "mde", None)


def verdict(c) -> str | None:
    """"better" | "worse" | "no_detectable_difference" | "inconclusive"; None for v1 records."""
    return getattr(c, "verdict", None)


def verdict_words(c) -> str:
    v = verdict(c)
    return VERDICTS.get(v, v) if v else ""


def stars(c) -> str:
    """'***' p<0.001, '**' p<0.01, '*' p<0.05, '' otherwise: the record's own (v2), or from p (v1)."""
    if hasattr(c, "stars"):
        return c.stars
    return stars_of(p_value(c))  # v1


def stars_of(p: float | None) -> str:
    """Stars for a p-value (v1 records only: v2 records carry their own)."""
    if p is None:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def endpoint(c) -> str:
    """"primary" or "secondary" (v1: the internal test set was the headline)."""
    return getattr(c, "endpoint", None) or ("primary" if c.eval_set == "internal_test" else "secondary")  # v1


def row(c) -> dict:
    """A comparison's numbers under the leaderboard's column names."""
    low, high = ci(c)
    return dict(eval_set=c.eval_set, against=c.against, endpoint=endpoint(c), delta=delta(c), ci_low=low,
                ci_high=high, p_value=p_value(c), mde=mde(c), verdict=verdict(c) or "", stars=stars(c),
                method=c.method)


def generation_cost(record) -> dict:
    """What generating the task's synthetic set cost: seconds (None when no generate stage ran),
    whether it was served from the cache (then the seconds are not a cost), the number of
    synthetic images (the audit's one-replica count × N/100 replicas), and the device."""
    gen = [t for t in record.timings if t.stage == "generate"]
    per_replica = (record.audit or {}).get("n_synthetic")
    ratio = record.task.supplement_ratio
    hw = record.environment.hardware or {}
    gpu = hw.get("gpu")  # the runner records torch.cuda.get_device_name(0) when a GPU was used
    device = f"GPU {gpu}" if gpu else f"CPU ({hw['cpus']} cores)" if hw.get("cpus") else "CPU"
    return dict(generate_seconds=float(sum(t.seconds for t in gen)) if gen else None,
                generate_cached=bool(gen) and all(t.cached for t in gen),
                n_synthetic=int(per_replica * ratio / 100) if per_replica and ratio else None,
                device=device)


def label_row(d) -> dict:
    """A per-label delta's numbers (v2 adds its CI)."""
    return dict(label=d.label, delta=d.delta, ci_low=getattr(d, "ci_low", None), ci_high=getattr(d, "ci_high", None),
                p_value=d.p_value, p_holm=d.p_holm, significant=bool(d.significant))
