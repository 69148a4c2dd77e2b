"""Degrees of freedom of the reported t-test: the seed spread's (S − 1) against Welch–Satterthwaite
with the test part at ∞ (the rule before record schema 7), on the calibration model's nulls.

Both rules see the same repetitions (`cxrbench.calibration.model`, `seed_mean_delta` with paired
seeds): only ν differs. Prints, per design, the primary and per-label rejection rates and Holm's
family-wise rate at α = 0.05 under each rule, and the median ν the old rule gave.

    python docs/experiments/dof_rules.py 500 docs/experiments/dof_rules.json
"""

from __future__ import annotations

import json
import sys

import numpy as np
from scipy.special import stdtr

from cxrbench.calibration.model import World, draw_runs, draw_test_set
from cxrbench.calibration.suite import interval
from cxrbench.stats import holm
from cxrbench.stats.seed_patient import eligible_labels, seed_mean_delta

DESIGNS = {"S2-N1000-equal": (2, 1000, 1.0), "S5-N1000-3x": (5, 1000, 3.0), "S5-N1000-equal": (5, 1000, 1.0)}


def _p(e, seeds: int, rule: str) -> float:
    var = e.var_test + e.var_seed
    if rule == "seed":
        dof = seeds - 1
    else:  # Welch–Satterthwaite, the test part at ∞ degrees of freedom
        dof = var**2 / (e.var_seed**2 / (seeds - 1)) if e.var_seed > 0 else np.inf
    return float(2 * stdtr(dof, -abs(e.estimate) / np.sqrt(var))), float(dof)


def run(reps: int) -> dict:
    world, out = World(), {}
    for key, (seeds, patients, ratio) in DESIGNS.items():
        rng = np.random.default_rng([7, seeds, patients, int(ratio * 100)])
        rows = {"seed": [], "satterthwaite": []}
        dofs = []
        for _ in range(reps):
            test = draw_test_set(world, patients, rng)
            sd_b, sd_a = world.seed_sd, world.seed_sd * ratio
            auroc = world.expected_auroc(np.asarray(world.skill), sd_b)
            a = draw_runs(world, test, seeds, world.signal_for(auroc, sd_a), sd_a, rng)
            b = draw_runs(world, test, seeds, world.signal_for(auroc, sd_b), sd_b, rng)
            y = test.rows[list(world.labels)].to_numpy(float)
            patients_ = test.rows["patient_id"].to_numpy()
            mask = eligible_labels(y, patients_, world.labels).mask(world.labels)
            res = seed_mean_delta(y, a, b, patients_, labels=world.labels, eligible=mask, paired_seeds=True)
            for rule in rows:
                macro = _p(res.macro, seeds, rule)[0]
                labels = np.array([_p(e, seeds, rule)[0] for e in res.per_label.values()])
                rows[rule].append((macro, labels))
            dofs += [_p(e, seeds, "satterthwaite")[1] for e in res.per_label.values()]
        out[key] = {"reps": reps, "median_satterthwaite_dof_per_label": float(np.median(dofs))}
        for rule, got in rows.items():
            primary = sum(m < 0.05 for m, _ in got)
            pooled = np.concatenate([lab for _, lab in got])
            fwer = sum(bool((holm(lab) < 0.05).any()) for _, lab in got)
            out[key][rule] = {"primary": primary / reps, "primary_interval": interval(primary, reps),
                              "per_label": float(np.mean(pooled < 0.05)),
                              "holm_familywise": fwer / reps, "holm_interval": interval(fwer, reps)}
        print(key, json.dumps(out[key]), flush=True)
    return out


if __name__ == "__main__":
    result = run(int(sys.argv[1]))
    with open(sys.argv[2], "w") as fh:
        json.dump(result, fh, indent=1)
