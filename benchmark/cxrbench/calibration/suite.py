"""Null rejection, CI coverage and power of the reported comparison, by simulation (`model`).

Each repetition draws a fresh test set and S training runs per arm from `cxrbench.calibration.model`
and feeds them through the runner's own `compare_on`, exactly as a record is scored: so what is
measured is what a record reports (p, stars, Holm flags, CI, MDE, verdict), including the rule
that gives no test below MIN_SEEDS seeds. A design is (seeds per arm, test patients, ratio of the
arms' seed sd). Under the null both arms have the same expected macro AUROC; the power run puts a
true Δ equal to the mean MDE the null repetitions reported ("power at the reported MDE").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import beta

from cxrbench.calibration.model import World, draw_runs, draw_test_set
from cxrbench.stats.arms import Arm
from cxrbench.stats.power import ALPHA


@dataclass(frozen=True)
class Design:
    seeds: int  # per arm
    patients: int
    seed_sd_ratio: float = 1.0  # the submission's seed sd / the baseline's

    @property
    def key(self) -> str:
        ratio = "equal" if self.seed_sd_ratio == 1 else f"{self.seed_sd_ratio:g}x"
        return f"S{self.seeds}-N{self.patients}-{ratio}"


def interval(hits: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson interval of a rate (the Monte Carlo error of a rejection rate)."""
    if n == 0:
        return (math.nan, math.nan)
    a = (1 - confidence) / 2
    low = 0.0 if hits == 0 else float(beta.ppf(a, hits, n - hits + 1))
    high = 1.0 if hits == n else float(beta.ppf(1 - a, hits + 1, n - hits))
    return low, high


def _eval_set(test):
    from cxrbench.runner.datasets import RealSet
    from cxrbench.tasking import DataRef

    return RealSet(ref=DataRef(source="phantom", site="simulated", split="test"), rows=test.rows,
                   pixels=np.zeros((len(test.rows), 0, 0), np.uint8), fingerprint="simulated")


def repetition(world: World, design: Design, delta: float, rng: np.random.Generator) -> dict:
    """One simulated record's primary comparison: A (the submission) against B (the baseline), true Δ `delta`."""
    from cxrbench.runner.score import compare_on
    from cxrbench.tasking import EligibilityRule

    test = draw_test_set(world, design.patients, rng)
    sd_b = world.seed_sd
    sd_a = world.seed_sd * design.seed_sd_ratio
    target_b = world.expected_auroc(np.asarray(world.skill), sd_b)
    target_a = np.clip(target_b + delta, 1e-6, 1 - 1e-6)
    a = draw_runs(world, test, design.seeds, world.signal_for(target_a, sd_a), sd_a, rng)
    b = draw_runs(world, test, design.seeds, world.signal_for(target_b, sd_b), sd_b, rng)
    ids = test.rows["image_id"].to_numpy()
    seeds = tuple(range(design.seeds))
    comp = compare_on("internal_test", _eval_set(test), world.labels, Arm(a, ids, seeds), Arm(b, ids, seeds),
                      "baseline", rule=EligibilityRule(min_positive_patients=20, min_negative_patients=20),
                      endpoint="primary")
    return {"p": comp.p_value, "delta": comp.delta, "se": comp.se, "dof": comp.dof, "mde": comp.mde,
            "ci": (comp.ci_low, comp.ci_high), "verdict": comp.verdict, "stars": comp.stars,
            "label_p": {d.label: d.p_value for d in comp.labels},
            "holm_flags": None if all(d.p_holm is None for d in comp.labels) else
            sum(bool(d.significant) for d in comp.labels), "n_labels": len(comp.macro_labels)}


def _rate(flags: list[bool]) -> dict:
    hits, n = int(sum(flags)), len(flags)
    return {"rate": hits / n if n else None, "interval": interval(hits, n), "n": n}


def summarise(rows: list[dict], truth: float) -> dict:
    tested = [r for r in rows if r["p"] is not None]
    out: dict = {"reps": len(rows), "p_reported": len(tested) / len(rows) if rows else None,
                 "stars_reported": sum(bool(r["stars"]) for r in rows),
                 "mean_delta": float(np.mean([r["delta"] for r in rows])),
                 "sd_delta": float(np.std([r["delta"] for r in rows], ddof=1)) if len(rows) > 1 else None}
    if not tested:
        out["verdicts"] = sorted({r["verdict"] for r in rows})
        return out
    labels = sorted({k for r in tested for k in r["label_p"]})
    per_label = {n: _rate([r["label_p"][n] < ALPHA for r in tested if r["label_p"].get(n) is not None])
                 for n in labels}
    pooled = [r["label_p"][n] < ALPHA for r in tested for n in labels if r["label_p"].get(n) is not None]
    holm = [r["holm_flags"] > 0 for r in tested if r["holm_flags"] is not None]
    out.update({
        "rejection": _rate([r["p"] < ALPHA for r in tested]),
        "ci_coverage": _rate([r["ci"][0] <= truth <= r["ci"][1] for r in tested]),
        "ci_and_p_agree": all((r["ci"][0] > 0 or r["ci"][1] < 0) == (r["p"] < ALPHA) for r in tested),
        "per_label_pooled": _rate(pooled),
        "per_label_max": max((v["rate"] for v in per_label.values() if v["n"]), default=None),
        "per_label": per_label,
        "holm_familywise": _rate(holm) if holm else None,
        "mean_se": float(np.mean([r["se"] for r in tested])),
        "mean_mde": float(np.mean([r["mde"] for r in tested])),
        "mean_dof": float(np.mean([r["dof"] for r in tested])),
        "mean_macro_labels": float(np.mean([r["n_labels"] for r in tested])),
    })
    return out


def run_design(design: Design, *, null_reps: int, power_reps: int, seed: int = 0, world: World | None = None,
               progress=None) -> dict:
    """The null, then (when the null reported p-values) the power at its mean reported MDE."""
    world = world or World()
    rng = np.random.default_rng([seed, design.seeds, design.patients, int(design.seed_sd_ratio * 100)])
    null = [repetition(world, design, 0.0, rng) for _ in _counted(null_reps, progress, f"{design.key} null")]
    out: dict[str, Any] = {"design": asdict(design), "key": design.key, "null": summarise(null, 0.0)}
    mde = out["null"].get("mean_mde")
    if power_reps and mde:
        alt = [repetition(world, design, mde, rng) for _ in _counted(power_reps, progress, f"{design.key} power")]
        out["power"] = {"true_delta": mde, **summarise(alt, mde)}
    return out


def _counted(n: int, progress, what: str):
    for i in range(n):
        if progress is not None and (i + 1) % max(1, n // 10) == 0:
            progress(f"{what}: {i + 1}/{n}")
        yield i


#: the designs of docs/stats.md's calibration table
GRID = tuple(Design(s, n, r) for n in (1000, 8000) for s in (1, 2, 3, 5, 12) for r in (1.0, 3.0))


def table_reps(design: Design) -> dict:
    """Repetitions of the docs table (tools/stats_calibration.py and the slow test use the same)."""
    if design.seeds < 3:  # no p-value is reported there: a few repetitions show it
        return {"null_reps": 100, "power_reps": 0}
    if design.patients > 2000:
        return {"null_reps": 400, "power_reps": 250}
    return {"null_reps": 1000, "power_reps": 500}
