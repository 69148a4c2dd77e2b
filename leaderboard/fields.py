"""The one place that reads a Comparison's numbers (for the leaderboard and the CLI tables).

Record schema v2: `delta`, `ci_low`, `ci_high`, `p_value`, `mde`, `verdict`, `stars`, `endpoint`, all
computed once by the score stage; nothing here recomputes a statistic or a star.
"""

from __future__ import annotations

from cxrbench.presentation import VERDICT_WORDS  # one wording for the CLI, README and leaderboard


def verdict_words(c) -> str:
    return VERDICT_WORDS.get(c.verdict, c.verdict) if c.verdict else ""


def row(c) -> dict:
    """A comparison's numbers under the leaderboard's column names (the record's own stars and verdict)."""
    return dict(eval_set=c.eval_set, against=c.against, endpoint=c.endpoint, delta=c.delta, ci_low=c.ci_low,
                ci_high=c.ci_high, p_value=c.p_value, mde=c.mde, verdict=c.verdict or "", stars=c.stars,
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
    """A per-label delta's numbers."""
    return dict(label=d.label, delta=d.delta, ci_low=d.ci_low, ci_high=d.ci_high, p_value=d.p_value, p_holm=d.p_holm,
                significant=bool(d.significant))
