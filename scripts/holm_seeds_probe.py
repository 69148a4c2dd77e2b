"""Holm's family-wise rate against the number of seeds, on the calibration pools.

Null designs: real vs real with S seeds per arm (only training seeds differ) and the per-seed
noise sets at 4 seeds; per label, the rejection rate at 0.05 and at 0.05/12 (Holm's first
threshold). Reads the pools `scripts/stats_calibration.py train` wrote (runs/calibration).

    python scripts/holm_seeds_probe.py REPS OUT.json 4,5,6,8
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import stats_calibration as sc
from cxrbench.schema import LABEL_SETS
from cxrbench.stats.multiplicity import holm
from cxrbench.stats.seed_patient import eligible_labels, seed_mean_delta

pools = Path("runs/calibration"); labels = LABEL_SETS[sc.LABELS_SET]
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
out = {}
for site in ["site-a", "site-b", "site-c"]:
    pool = np.load(pools / f"pool-{site}.npz"); y, patients = pool["y"], pool["patients"]
    uniq, codes = np.unique(patients, return_inverse=True)
    real = sc._load(pools, "real", site); noise = sc._noise_sets(pools, site)
    n_pick = 2967 if site == "site-a" else 2000
    seeds = [int(v) for v in (sys.argv[3] if len(sys.argv) > 3 else "4,5,6,8").split(",")]
    for design, S in [*(("seeds", k) for k in seeds), ("persets", 4)]:
        rng = np.random.default_rng(1)
        rows = []
        t0 = time.time()
        for _ in range(reps):
            pick = rng.choice(len(uniq), size=min(n_pick, len(uniq)), replace=False)
            mask = np.isin(codes, pick)
            if design == "seeds":
                r = rng.permutation(real.shape[0]); sa, sb = real[r[:S]], real[r[S:2 * S]]
            else:
                sa, sb = sc._noise_per_seed(noise, S, rng)
            yy, pp = y[mask], patients[mask]
            elig = eligible_labels(yy, pp, labels)
            res = seed_mean_delta(yy, sa[:, mask], sb[:, mask], pp, labels=labels, eligible=elig.mask(labels), paired_seeds=True)
            rows.append({n: (e.p_value, e.dof, e.var_test / max(e.se**2, 1e-30), e.estimate / e.se) for n, e in res.per_label.items()})
        names = sorted({k for r in rows for k in r})
        p = {n: np.array([r[n][0] for r in rows if n in r]) for n in names}
        fw = np.mean([any(v < 0.05 for v in holm(np.array([r[n][0] for n in r]))) for r in rows])
        at05 = np.mean([np.mean(p[n] < 0.05) for n in names]); at004 = np.mean([np.mean(p[n] < 0.05 / 12) for n in names])
        dof = np.median([r[n][1] for r in rows for n in r]); testshare = np.median([r[n][2] for r in rows for n in r])
        key = f"{design}{S}@{site}"
        out[key] = dict(fwer=fw, at05=at05, at004=at004, dof_median=dof, test_share_median=testshare,
                        per_label_004={n: float(np.mean(p[n] < 0.05 / 12)) for n in names})
        print(f"{key:16s} FWER {fw:.3f}  per-label@.05 {at05:.3f}  @.0042 {at004:.4f} (nominal .0042)  median dof {dof:.1f}  test share {testshare:.2f}  [{time.time()-t0:.0f}s]", flush=True)
json.dump(out, open(sys.argv[2] if len(sys.argv) > 2 else "holm_seeds_probe.json", "w"), indent=1)
