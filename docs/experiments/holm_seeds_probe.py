"""Holm's family-wise rate against the number of seeds, on the calibration pools.

Null designs: real vs real with S seeds per arm (only training seeds differ: `S`) and a noise
set per seed (`setsS`: 2·S distinct noise sets per repetition, seed s paired across the arms);
per label, the rejection rate at 0.05 and at 0.05/12 (Holm's first threshold), and the primary
(macro) rejection rate. Reads the pools `docs/experiments/phantom_calibration.py train` wrote
(runs/calibration).

    python docs/experiments/holm_seeds_probe.py REPS OUT.json 4,5,6,8,sets4
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import phantom_calibration as sc

from cxrbench.schema import LABEL_SETS
from cxrbench.stats.multiplicity import holm
from cxrbench.stats.seed_patient import eligible_labels, seed_mean_delta

pools = Path("runs/calibration")
labels = LABEL_SETS[sc.LABELS_SET]
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
tokens = (sys.argv[3] if len(sys.argv) > 3 else "4,5,6,8,sets4").split(",")
designs = [("persets", int(t[4:])) if t.startswith("sets") else ("seeds", int(t)) for t in tokens]
out = {}
for site in ["site-a", "site-b", "site-c"]:
    pool = np.load(pools / f"pool-{site}.npz")
    y, patients = pool["y"], pool["patients"]
    uniq, codes = np.unique(patients, return_inverse=True)
    real, noise = sc._load(pools, "real", site), sc._noise_sets(pools, site)
    n_pick = 2967 if site == "site-a" else 2000  # the quick design's test patients (external: the pools hold 4,000)
    for design, S in designs:
        rng = np.random.default_rng(1)
        rows, macro_p = [], []
        t0 = time.time()
        for _ in range(reps):
            mask = np.isin(codes, rng.choice(len(uniq), size=min(n_pick, len(uniq)), replace=False))
            if design == "seeds":
                r = rng.permutation(real.shape[0])
                sa, sb = real[r[:S]], real[r[S:2 * S]]
            else:
                sa, sb = sc._noise_per_seed(noise, S, rng)
            yy, pp = y[mask], patients[mask]
            elig = eligible_labels(yy, pp, labels)
            res = seed_mean_delta(yy, sa[:, mask], sb[:, mask], pp, labels=labels, eligible=elig.mask(labels),
                                  paired_seeds=True)
            macro_p.append(res.macro.p_value)
            rows.append({n: (e.p_value, e.dof) for n, e in res.per_label.items()})
        names = sorted({k for r in rows for k in r})
        p = {n: np.array([r[n][0] for r in rows if n in r]) for n in names}
        entry = {
            "design": design, "seeds_per_arm": S, "reps": reps, "patients": n_pick,
            "macro_rejection": float(np.mean(np.array(macro_p) < 0.05)),
            "holm_familywise": float(np.mean([any(v < 0.05 for v in holm(np.array([r[n][0] for n in r])))
                                              for r in rows])),
            "per_label_at_05": float(np.mean([np.mean(p[n] < 0.05) for n in names])),
            "per_label_at_05_over_12": float(np.mean([np.mean(p[n] < 0.05 / 12) for n in names])),
            "dof_median": float(np.median([r[n][1] for r in rows for n in r])),
            "per_label_at_05_over_12_by_label": {n: float(np.mean(p[n] < 0.05 / 12)) for n in names},
        }
        out[f"{design}{S}@{site}"] = entry
        print(f"{design}{S}@{site}: macro {entry['macro_rejection']:.3f}  Holm FWER {entry['holm_familywise']:.3f}  "
              f"per-label@.05 {entry['per_label_at_05']:.3f}  @.05/12 {entry['per_label_at_05_over_12']:.4f}  "
              f"dof {entry['dof_median']:.1f}  [{time.time() - t0:.0f} s]", flush=True)
with open(sys.argv[2] if len(sys.argv) > 2 else "holm_seeds_probe.json", "w") as f:
    json.dump(out, f, indent=1)
