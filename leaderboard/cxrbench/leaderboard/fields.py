"""The one place that reads a Comparison's numbers (for the leaderboard and the CLI tables).

Record schema v2 to v7 (v3 adds the measured generation cost, read by `generation_cost`; v7 the
`verdict_reason` of a comparison without a test): `delta`, `ci_low`, `ci_high`, `p_value`, `mde`,
`verdict`, `stars`, `endpoint`, all computed once by the score stage; nothing here recomputes a
statistic or a star.
"""

from __future__ import annotations

from cxrbench.presentation import VERDICT_WORDS  # one wording for the CLI, README and leaderboard


def verdict_words(c) -> str:
    return VERDICT_WORDS.get(c.verdict, c.verdict) if c.verdict else ""


def row(c) -> dict:
    """A comparison's numbers under the leaderboard's column names (the record's own stars and verdict)."""
    return dict(eval_set=c.eval_set, against=c.against, endpoint=c.endpoint, delta=c.delta, ci_low=c.ci_low,
                ci_high=c.ci_high, p_value=c.p_value, mde=c.mde, verdict=c.verdict or "",
                verdict_reason=getattr(c, "verdict_reason", None), stars=c.stars, method=c.method)


def generation_cost(record) -> dict:
    """What generating the task's synthetic set cost, as the pages show it.

    `generate_seconds` / `generate_cached`: the record's own generate stage (None: no stage ran).
    `measured`, `images_per_second`, `device`, `measured_at`, `reused`: from the record's
    `generation` (schema v3: the wall time, device and images/s stored with each replica when it was
    generated, carried by every record that reuses it, dated by `measured_at`); for a record without
    it, from its generate stage, a measurement only when that stage was not served from the cache.
    `n_synthetic`: the task's synthetic images (the audit's one-replica count × N/100 replicas)."""
    gen = [t for t in record.timings if t.stage == "generate"]
    per_replica = (record.audit or {}).get("n_synthetic")
    ratio = record.task.supplement_ratio
    n_synthetic = int(per_replica * ratio / 100) if per_replica and ratio else None
    stage_seconds = float(sum(t.seconds for t in gen)) if gen else None
    cached = bool(gen) and all(t.cached for t in gen)
    runs = record.generation
    if runs:
        images, seconds = sum(r.images for r in runs), sum(r.seconds for r in runs)
        measured = images > 0 and seconds > 0
        return dict(generate_seconds=stage_seconds, generate_cached=cached, n_synthetic=n_synthetic or images,
                    device=" + ".join(sorted({r.device for r in runs})), measured=measured,
                    images_per_second=images / seconds if measured else None, measured_images=images,
                    measured_seconds=seconds, measured_at=min(r.generated_at for r in runs),
                    reused=all(r.reused for r in runs))
    hw = record.environment.hardware or {}
    gpu = hw.get("gpu")  # the runner records torch.cuda.get_device_name(0) when a GPU was used
    device = f"GPU {gpu}" if gpu else f"CPU ({hw['cpus']} cores)" if hw.get("cpus") else "CPU"
    # A generate stage measures generation only in a schema-v2 record of a generator that ran: from v3 on
    # a generation is measured into `generation`, and a precomputed set's stage times reading files
    generated = record.schema_version < 3 and record.environment.isolation.get("mode") != "no submission code"
    measured = bool(generated and not cached and stage_seconds and n_synthetic)
    return dict(generate_seconds=stage_seconds, generate_cached=cached, n_synthetic=n_synthetic, device=device,
                measured=measured, images_per_second=n_synthetic / stage_seconds if measured else None,
                measured_images=n_synthetic if measured else None, measured_seconds=stage_seconds if measured else None,
                measured_at=record.created_at if measured else None, reused=cached)


def label_row(d) -> dict:
    """A per-label delta's numbers."""
    return dict(label=d.label, delta=d.delta, ci_low=d.ci_low, ci_high=d.ci_high, p_value=d.p_value, p_holm=d.p_holm,
                significant=bool(d.significant))



def training_population(record) -> dict:
    """What the submission learned from, as the pages show it beside Δ (`cxrbench.presentation.trained_on`),
    and the group it is ranked in: "more real data" where the task ranks those apart, "" otherwise."""
    from cxrbench.presentation import trained_on

    return trained_on(record)
