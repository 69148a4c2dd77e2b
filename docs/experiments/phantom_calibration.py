"""Calibration and power of cxrbench's inference on pools of real phantom classifier runs.

The figures of docs/stats.md's phantom sections. The release's calibration table is simulated
(tools/stats_calibration.py, an independent generative model); this one re-uses trained runs,
so it sees the phantom's own seed and set-to-set variance. Its committed results
(docs/img/stats_calibration*.json) were measured with the procedure of their time (Welch–
Satterthwaite degrees of freedom); `analyse` re-runs them with the current one.

Training is the expensive part, scoring is cheap, so the simulation trains a *pool* of classifier
runs once per arm and re-uses them. Runs go through the runner's own cached `reference_run` on
`phantom/supplement-100` at the quick budget (recipe quick@3), so seeds 0-4 of `real`, `oracle`
and `noise-g0` are exactly the runs behind the published records:

    real       real-only (the task's baseline arm)                       --real-seeds runs
    oracle     real + 100% phantom-oracle images                         --arm-seeds runs
    noise-g0   real + 100% noise-control images (generation seed 0)      --arm-seeds runs
    noise-g1   the same with generation seed 1                           --arm-seeds runs
    noise-gK   the same with generation seed K (any K)                   --arm-seeds runs

Every run also predicts *fresh* phantom patients (source seed 1: never seen in training, drawn
from the same population as the task's test sets), a pool per site. A repetition draws P patients
from a site's pool without replacement and S seeds per arm, then runs the reported tests
(`cxrbench.stats.seed_patient`, the procedure behind every record) on that design:

    null (a)  real vs real, disjoint seeds               (only training seeds differ)
    null (b)  noise-gJ vs noise-gK, a random pair of sets  (two structureless generators; the
              repetitions average over the synthetic sets drawn, and a two-way ANOVA over the
              sets measures whether a fixed set carries an effect of its own)
    power     oracle vs real; and a graded effect: probabilities blended λ·oracle run +
              (1 − λ)·an independent real run, against real (detection rate vs the pool's Δ)

    python docs/experiments/phantom_calibration.py train --real-seeds 12 --arm-seeds 6    # resumable
    python docs/experiments/phantom_calibration.py analyse --reps 200 --out docs/img/stats_calibration.json

Repetitions share pool patients and runs (P of a pool of ~4x P patients; S of ~2-5x S runs), so
they are not independent: the Monte Carlo error of a rejection rate is somewhat above the
binomial sqrt(p(1-p)/reps) quoted in the output.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

LABELS_SET = "all14"
POOL_PATIENTS = {"site-a": 9000, "site-b": 4000, "site-c": 4000}
FRESH_SEED = 1


def fresh_pool(site: str, size: int = 32, n_patients: int | None = None):
    """Rows and pixels of fresh phantom patients of `site` (source seed 1), and their labels."""
    from cxrbench.data.phantom.source import PhantomSource
    from cxrbench.schema import LABEL_SETS

    src = PhantomSource(site, n_patients=n_patients or POOL_PATIENTS[site], seed=FRESH_SEED)
    rows = src.rows()
    pixels = np.concatenate([src.load_batch(rows.iloc[i:i + 4096], size) for i in range(0, len(rows), 4096)])
    return rows, pixels, rows[list(LABEL_SETS[LABELS_SET])].to_numpy(np.float32)


#: arm → (submission folder, generation seed); "real" trains on the real rows alone
ARMS = {"real": (None, None), "oracle": ("submissions/phantom-oracle", 0), "noise-g0": ("submissions/noise", 0),
        "noise-g1": ("submissions/noise", 1)}


def arm_spec(arm: str) -> tuple[str | None, int | None]:
    """(submission folder, generation seed) of an arm: one of ARMS, or `noise-gK` (noise, generation seed K)."""
    if arm in ARMS:
        return ARMS[arm]
    if arm.startswith("noise-g") and arm.removeprefix("noise-g").isdigit():
        return "submissions/noise", int(arm.removeprefix("noise-g"))
    raise SystemExit(f"unknown arm {arm!r}: one of {', '.join(ARMS)} or noise-gK")


def train(args) -> None:
    """Train every (arm, seed) run through the runner's own cached `reference_run` (so seeds 0-4 of
    real, oracle and noise-g0 are exactly the runs `cxrbench evaluate` reuses for the published
    records), then predict the fresh patient pools with the saved model."""
    import torch
    from rich.progress import Progress

    from cxrbench.baselines.classifier import TrainedClassifier
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.classify import reference_run
    from cxrbench.runner.evaluate import RunOptions, TaskRun
    from cxrbench.runner.generate import synthesize
    from cxrbench.submissions import Limits, load_submission
    from cxrbench.tasking import get_task

    torch.set_num_threads(1)
    out = Path(args.pools)
    out.mkdir(parents=True, exist_ok=True)
    pools = {}
    sizes = POOL_PATIENTS | {site: int(n) for site, n in (kv.split("=") for kv in args.pool_patients.split(",") if kv)}
    for site in args.sites.split(","):
        n_patients = sizes[site]
        path = out / f"pool-{site}.npz"
        if not path.exists():
            rows, pixels, y = fresh_pool(site, n_patients=n_patients)
            np.savez(path, pixels=pixels, y=y, patients=rows["patient_id"].to_numpy().astype("U"))
        pools[site] = np.load(path)["pixels"]
    spec = get_task("phantom/supplement-100")
    # The runs predict their own fresh pools; the task's eval sets only enter the runs' cache keys. Pin
    # them to the quick budget's common population (as in task version 3), so the pools' runs stay the
    # same cache entries whatever size a task version gives its internal test set.
    quick = spec.budget("quick").model_copy(update={"eval_patients": {}})
    spec = spec.model_copy(update={"budgets": {**spec.budgets, "quick": quick}, "synthetic_sets": "shared"})
    opts = RunOptions(budget="quick")
    cache = Cache(None)
    jobs = []
    for seed in range(max(args.real_seeds, args.arm_seeds)):  # interleaved: every arm gets seeds early
        jobs += [("real", seed)] if seed < args.real_seeds else []
        jobs += [(arm, seed) for arm in args.arms.split(",") if seed < args.arm_seeds]
    with Progress(transient=True) as progress:
        base = TaskRun(load_submission("submissions/noise"), spec, opts, cache, progress)
        real_train, val, eval_sets, forbidden = base.data()
        common = base.common(val, eval_sets, forbidden)
        synthetic = {}
        for arm, seed in jobs:
            path = out / arm / f"seed{seed:03d}.npz"
            if path.exists():
                continue
            folder, generation_seed = arm_spec(arm)
            if folder is not None and arm not in synthetic:
                sub = load_submission(folder)
                limits = Limits(timeout_s=3600, memory_gb=16, threads=1)
                synthetic[arm] = [synthesize(sub, real_train, 0, size=32, generation_seed=generation_seed,
                                             cache=cache, limits=limits)]
            started = time.perf_counter()
            preds = reference_run(real_train=real_train, synthetic=synthetic.get(arm, []), seed=seed,
                                  replicas_of_real=True, **common)
            model = TrainedClassifier.load(cache.path("classifier-run", preds.key) / "model")
            path.parent.mkdir(exist_ok=True)
            np.savez(path, **{site: model.predict(px).astype(np.float32) for site, px in pools.items()})
            print(f"{arm} seed {seed}: {time.perf_counter() - started:.1f} s (run {preds.key[:12]}, "
                  f"{'cached' if preds.cached else 'trained'})", flush=True)


def _load(pools: Path, arm: str, site: str) -> np.ndarray:
    files = sorted((pools / arm).glob("seed*.npz"))
    if not files:  # an arm these pools do not hold: its designs are skipped
        return np.zeros((0, 0, 0), np.float32)
    return np.stack([np.load(f)[site] for f in files])


def _noise_sets(pools: Path, site: str) -> dict[int, dict[int, np.ndarray]]:
    """Noise-control runs by generation seed, then by training seed: {K: {seed: (N, L) scores}}."""
    sets = {}
    for folder in sorted(pools.glob("noise-g*")):
        runs = {int(f.stem.removeprefix("seed")): np.load(f)[site] for f in sorted(folder.glob("seed*.npz"))}
        if runs:
            sets[int(folder.name.removeprefix("noise-g"))] = runs
    return sets


def _noise_pair(noise: dict, n_seeds: int, rng) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Two distinct noise sets drawn at random, `n_seeds` training seeds shared by both, and the pair."""
    usable = [k for k, v in noise.items() if len(v) >= n_seeds]
    ka, kb = rng.choice(usable, size=2, replace=False)
    common = sorted(set(noise[ka]) & set(noise[kb]))
    seeds = rng.choice(common, size=n_seeds, replace=False)
    return np.stack([noise[ka][s] for s in seeds]), np.stack([noise[kb][s] for s in seeds]), (int(ka), int(kb))


def _noise_per_seed(noise: dict, n_seeds: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """The per-seed-set design: training seed s of each arm on its own noise set, 2·n_seeds distinct
    sets in all, seed s paired across the arms. The seed spread then contains the set-to-set variance."""
    usable = [k for k, v in noise.items() if all(s in v for s in range(n_seeds))]
    ks = rng.choice(usable, size=2 * n_seeds, replace=False)
    return (np.stack([noise[k][s] for s, k in enumerate(ks[:n_seeds])]),
            np.stack([noise[k][s] for s, k in enumerate(ks[n_seeds:])]))


def _set_bootstrap(rows: list[dict], sets: list[int], n_boot: int = 2000, seed: int = 0) -> list[float]:
    """95 % interval of a two-sets null's rejection rate over *draws of sets*: the repetitions rest
    on a few sets (each in many pairs), so the binomial se over repetitions understates the Monte
    Carlo error. Resample the sets with replacement; a pair counts as often as both its sets were drawn."""
    rng = np.random.default_rng(seed)
    by_pair: dict = {}
    for r in rows:
        by_pair.setdefault(tuple(sorted(r["pair"])), []).append(r["p"] < 0.05)
    rate = {k: float(np.mean(v)) for k, v in by_pair.items()}
    out = []
    for _ in range(n_boot):
        counts = np.bincount(rng.choice(len(sets), size=len(sets)), minlength=len(sets))
        w = {k: counts[sets.index(k[0])] * counts[sets.index(k[1])] for k in rate}
        tot = sum(w.values())
        if tot:
            out.append(sum(w[k] * rate[k] for k in rate) / tot)
    return [float(np.quantile(out, 0.025)), float(np.quantile(out, 0.975))]


def _set_variance(noise: dict, y, patients, labels, n_seeds: int) -> dict:
    """Variance between noise *sets* of the per-seed macro AUROC on the whole pool: two-way ANOVA
    (set x training seed, one run per cell) over the sets that share training seeds 0..n_seeds-1.
    sigma2_set > 0 would mean a fixed synthetic set carries an effect of its own, which a record
    (one set per generator, its test conditional on it) does not count as variance."""
    from scipy import stats as st

    from cxrbench.stats import auroc
    from cxrbench.stats.seed_patient import eligible_labels

    elig = eligible_labels(y, patients, labels)
    cols = [j for j, n in enumerate(labels) if n in elig.included]
    sets = [k for k, v in noise.items() if all(s in v for s in range(n_seeds))]
    x = np.array([[np.mean([auroc(y[:, j], noise[k][s][:, j]).macro for j in cols]) for s in range(n_seeds)]
                  for k in sets])  # (sets, seeds)
    a, b = x.shape
    grand = x.mean()
    ms_set = b * np.sum((x.mean(1) - grand) ** 2) / (a - 1)
    resid = x - x.mean(1, keepdims=True) - x.mean(0, keepdims=True) + grand
    ms_res = np.sum(resid ** 2) / ((a - 1) * (b - 1))
    f = ms_set / ms_res
    return {"sets": [int(k) for k in sets], "seeds_per_set": b, "ms_set": float(ms_set), "ms_residual": float(ms_res),
            "f": float(f), "p_value": float(st.f.sf(f, a - 1, (a - 1) * (b - 1))),
            "sigma2_set": float(max((ms_set - ms_res) / b, 0.0)), "sd_residual": float(np.sqrt(ms_res)),
            "set_means": [float(v) for v in x.mean(1)]}


def _one(y, patients, sa, sb, labels):
    from cxrbench.stats.multiplicity import holm
    from cxrbench.stats.seed_patient import eligible_labels, seed_mean_delta

    elig = eligible_labels(y, patients, labels)
    res = seed_mean_delta(y, sa, sb, patients, labels=labels, eligible=elig.mask(labels), paired_seeds=True)
    per = {n: e.p_value for n, e in res.per_label.items()}
    adj = dict(zip(per, holm(np.array(list(per.values())))))
    m = res.macro
    return {"p": m.p_value, "delta": m.estimate, "mde": m.mde, "se": m.se, "var_test": m.var_test,
            "var_seed": m.var_seed, "var_within": m.var_within, "dof": m.dof,
            "excludes0": bool(m.ci_low > 0 or m.ci_high < 0), "label_p": per, "label_holm": adj,
            "n_labels": len(res.macro_labels)}


def _summarise(rows, site, design, pool_delta) -> dict:
    p = np.array([r["p"] for r in rows])
    rej = float(np.mean(p < 0.05))
    names = sorted({k for r in rows for k in r["label_p"]})
    per_label = {n: float(np.mean([r["label_p"].get(n, 1.0) < 0.05 for r in rows])) for n in names}
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    return {
        "site": site, "design": design, "reps": len(rows), "pool_delta": pool_delta,
        "macro_rejection_rate": rej, "macro_rejection_se": float(np.sqrt(max(rej * (1 - rej), 1e-12) / len(rows))),
        "ci_and_p_agree": bool(all(r["excludes0"] == (r["p"] < 0.05) for r in rows)),
        "mean_delta": mean("delta"), "sd_delta": float(np.std([r["delta"] for r in rows], ddof=1)),
        "mean_se": mean("se"), "mean_mde": mean("mde"), "mean_dof": mean("dof"),
        "mean_var_test": mean("var_test"), "mean_var_seed": mean("var_seed"), "mean_var_within": mean("var_within"),
        "per_label_rejection_rate": per_label,
        "per_label_pooled_rate": float(np.mean(list(per_label.values()))) if per_label else None,
        "per_label_rejection_min": min(per_label.values()) if per_label else None,
        "per_label_rejection_max": max(per_label.values()) if per_label else None,
        "holm_familywise_rate": float(np.mean([any(v < 0.05 for v in r["label_holm"].values()) for r in rows])),
        "mean_macro_labels": mean("n_labels"),
    }


def analyse(args) -> dict:
    """Null rejection rates, detection rates and variance components; `--out` writes them as JSON."""
    from cxrbench.schema import LABEL_SETS
    from cxrbench.stats.design import VarianceComponents
    from cxrbench.stats.seed_patient import eligible_labels, seed_mean_delta

    pools, labels = Path(args.pools), LABEL_SETS[LABELS_SET]
    rng = np.random.default_rng(args.seed)
    S = args.seeds
    out: dict = {"made_by": "docs/experiments/phantom_calibration.py analyse", "reps": args.reps, "patients": args.patients,
                 "external_patients": args.external_patients,
                 "seeds": S, "generator_seeds": args.generator_seeds, "alpha": 0.05, "blend": args.blend, "tests": {}}
    for site in args.sites.split(","):
        pool = np.load(pools / f"pool-{site}.npz")
        y, patients = pool["y"], pool["patients"]
        uniq, codes = np.unique(patients, return_inverse=True)
        real, oracle = _load(pools, "real", site), _load(pools, "oracle", site)
        noise = _noise_sets(pools, site)
        designs = {"null: real vs real (seeds only)": "null-seeds",
                   f"null: two noise sets of {len(noise)} (structureless generators)": "null-generators",
                   "null: per-seed noise sets (each seed its own set)": "null-per-seed-sets"}
        if site == "site-a":
            designs["oracle vs real"] = "oracle"
            designs.update({f"blend {lam:.2f} vs real": f"blend-{lam:.2f}" for lam in args.blend})
        need = {"null-seeds": real.shape[0] >= 2 * S,
                "null-generators": sum(len(v) >= args.generator_seeds for v in noise.values()) >= 3,
                "null-per-seed-sets": sum(all(s in v for s in range(args.generator_seeds)) for v in noise.values())
                >= 2 * args.generator_seeds,
                "oracle": oracle.shape[0] >= S and real.shape[0] >= S}
        for design, kind in designs.items():
            if args.designs and not any(kind == d or kind.startswith(d + "-") for d in args.designs.split(",")):
                continue
            if not need.get(kind, oracle.shape[0] >= S and real.shape[0] >= 2 * S):
                print(f"{design}: skipped, too few runs in the pools", flush=True)
                continue
            rows = []
            for _ in range(args.reps):
                n_pick = args.patients if site == "site-a" else args.external_patients
                pick = rng.choice(len(uniq), size=min(n_pick, len(uniq)), replace=False)
                mask = np.isin(codes, pick)
                r = rng.permutation(real.shape[0])
                if kind == "null-seeds":
                    sa, sb = real[r[:S]], real[r[S:2 * S]]
                elif kind == "null-generators":
                    # a random pair of noise sets (generation seeds), in random order, with the same
                    # training seeds on both sides (paired, as a record pairs a submission with real-only);
                    # so repetitions average over draws of the two synthetic sets as well as of patients
                    sa, sb, pair = _noise_pair(noise, args.generator_seeds, rng)
                elif kind == "null-per-seed-sets":
                    sa, sb = _noise_per_seed(noise, args.generator_seeds, rng)
                elif kind == "oracle":
                    sa, sb = oracle[rng.choice(oracle.shape[0], S, replace=False)], real[r[:S]]
                else:  # a graded effect: probabilities blended between an oracle run and an independent real run
                    lam = float(kind.removeprefix("blend-"))
                    o = oracle[rng.choice(oracle.shape[0], S, replace=False)]
                    sa, sb = (1 - lam) * real[r[S:2 * S]] + lam * o, real[r[:S]]
                rows.append(_one(y[mask], patients[mask], sa[:, mask], sb[:, mask], labels))
                if kind == "null-generators":
                    rows[-1]["pair"] = pair
            pool_delta = None
            if kind not in ("null-seeds", "null-per-seed-sets"):  # the design's true effect, estimated on the whole pool with every run
                elig = eligible_labels(y, patients, labels).mask(labels)
                if kind == "null-generators":  # the two sets with the most runs (generation seeds 0 and 1)
                    (_, a_all), (_, b_all) = sorted(noise.items(), key=lambda kv: -len(kv[1]))[:2]
                    a_all, b_all = np.stack(list(a_all.values())), np.stack(list(b_all.values()))
                elif kind == "oracle":
                    a_all, b_all = oracle, real
                else:
                    lam = float(kind.removeprefix("blend-"))
                    n = min(oracle.shape[0], real.shape[0] // 2)
                    a_all, b_all = (1 - lam) * real[n:2 * n] + lam * oracle[:n], real[:n]
                pool_delta = seed_mean_delta(y, a_all, b_all, patients, labels=labels, eligible=elig,
                                             paired_seeds=False).macro.estimate
            entry = _summarise(rows, site, design, pool_delta)
            if kind == "null-generators":
                entry["set_variance"] = _set_variance(noise, y, patients, labels, args.generator_seeds)
                entry["set_bootstrap_ci"] = _set_bootstrap(rows, sorted(noise))
                print(f"  set-level variance {site}: {entry['set_variance']}", flush=True)
            out["tests"][f"{kind}@{site}"] = entry
            print(f"{design:52s} {site}: reject {entry['macro_rejection_rate']:.3f} ± {entry['macro_rejection_se']:.3f}"
                  f"  labels [{entry['per_label_rejection_min']:.3f}, {entry['per_label_rejection_max']:.3f}]"
                  f"  Holm FWER {entry['holm_familywise_rate']:.3f}  Δ {entry['mean_delta']:+.4f}"
                  f" (pool {pool_delta if pool_delta is None else round(pool_delta, 4)})  MDE {entry['mean_mde']:.4f}",
                  flush=True)
    out["seed_sd"] = {}
    from cxrbench.stats import auroc

    pool = np.load(pools / "pool-site-a.npz")
    elig = eligible_labels(pool["y"], pool["patients"], labels)
    for arm in ARMS:
        if len(_load(pools, arm, "site-a")) < 2:
            continue
        macros = [np.mean([auroc(pool["y"][:, j], s[:, j]).macro for j, n in enumerate(labels) if n in elig.included])
                  for s in _load(pools, arm, "site-a")]
        out["seed_sd"][arm] = {"n_runs": len(macros), "mean_macro_auroc": float(np.mean(macros)),
                               "sd_macro_auroc": float(np.std(macros, ddof=1)), "test_patients": int(len(set(pool["patients"])))}
        print(f"per-seed macro AUROC {arm}: mean {np.mean(macros):.4f}, sd {np.std(macros, ddof=1):.4f} "
              f"over {len(macros)} runs ({len(set(pool['patients']))} fresh patients)")
    out["components"] = {}
    for key in ("oracle@site-a", "null-generators@site-a", "null-seeds@site-a"):
        e = out["tests"].get(key)
        if e is None:
            continue
        s_design = args.generator_seeds if key.startswith("null-generators") else S
        within = s_design * e["mean_var_within"]
        comp = VarianceComponents(recipe="quick@3", design=key, patients=args.patients,
                                  shared_test_var=e["mean_var_test"], within_var=within,
                                  seed_var=max(s_design * e["mean_var_seed"] - within, 0.0))
        # compared at the quick design (S seeds), whatever the number of seeds it was measured with
        out["components"][key] = {**comp.to_dict(), "mde_at_quick_design": comp.mde(args.patients, S)}
    if args.components_out and out["components"]:
        key = max(out["components"], key=lambda k: out["components"][k]["mde_at_quick_design"])  # conservative
        c = out["components"][key]
        design = {"oracle@site-a": "phantom-oracle vs real-only", "null-generators@site-a": "noise set vs noise set",
                  "null-seeds@site-a": "real-only vs real-only"}[key]
        s_design = args.generator_seeds if key.startswith("null-generators") else S
        table = {"made_by": "docs/experiments/phantom_calibration.py analyse --components-out",
                 "note": "variance components of the primary Δ (per-seed scale) measured on phantom/supplement-100 "
                         "at the quick budget; the design with the largest MDE of those simulated",
                 "budgets": {"quick": {"recipe": "quick@3", "design": f"{design}, paired seeds, measured with {s_design} seeds",
                                       "patients": args.patients, "shared_test_var": c["shared_test_var"],
                                       "within_var": c["within_var"], "seed_var": c["seed_var"]}}}
        Path(args.components_out).write_text(json.dumps(table, indent=2) + "\n")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


def table(args) -> None:
    """The Markdown tables of docs/stats.md, from the JSON that `analyse --out` wrote."""
    data = json.loads(Path(args.json).read_text())
    pct = lambda x: "—" if x is None else f"{100 * x:.1f} %"  # noqa: E731
    print(f"{data['reps']} repetitions, {data['patients']} test patients (site-a; {data.get('external_patients')} on the "
          f"external sites) and {data['seeds']} seeds per arm ({data.get('generator_seeds')} in the two-noise-sets null), "
          f"α = {data['alpha']}; Monte Carlo se of a 5 % rate ≈ {100 * (0.05 * 0.95 / data['reps']) ** 0.5:.1f} points.\n")
    print("| design | eval set | primary (macro) rejection | CI excludes 0 ⇔ p < α | per-label rejection, pooled "
          "(min–max) | any label after Holm | mean Δ | pool Δ | mean MDE |")
    print("|---|---|---|---|---|---|---|---|---|")
    for e in data["tests"].values():
        pool = "—" if e["pool_delta"] is None else f"{e['pool_delta']:+.4f}"
        print(f"| {e['design']} | {e['site']} | {pct(e['macro_rejection_rate'])} ± {100 * e['macro_rejection_se']:.1f} "
              f"| {'yes' if e['ci_and_p_agree'] else 'NO'} | {pct(e['per_label_pooled_rate'])} "
              f"({pct(e['per_label_rejection_min'])}–{pct(e['per_label_rejection_max'])}) | {pct(e['holm_familywise_rate'])} | {e['mean_delta']:+.4f} "
              f"| {pool} "
              f"| {e['mean_mde']:.4f} |")
    sets = {k: e for k, e in data["tests"].items() if "set_variance" in e}
    if sets:
        print("\nTwo fixed noise sets per repetition rest on a few sets (each in many pairs): the interval over "
              "draws of sets (a bootstrap of the sets) is the honest Monte Carlo error of that rate.\n")
        print("| eval set | sets × seeds | rejection, fixed pair of sets | 95 % interval over draws of sets | "
              "set-level sd σ_set (two-way ANOVA) | F | p (σ²_set = 0) | residual sd |")
        print("|---|---|---|---|---|---|---|---|")
        for e in sets.values():
            v, ci = e["set_variance"], e["set_bootstrap_ci"]
            print(f"| {e['site']} | {len(v['sets'])} × {v['seeds_per_set']} | {pct(e['macro_rejection_rate'])} "
                  f"| {pct(ci[0])}–{pct(ci[1])} | {v['sigma2_set'] ** 0.5:.4f} | {v['f']:.2f} | {v['p_value']:.2f} "
                  f"| {v['sd_residual']:.4f} |")
    print("\n| arm | runs | mean macro AUROC | sd over seeds |\n|---|---|---|---|")
    for arm, e in data["seed_sd"].items():
        print(f"| {arm} | {e['n_runs']} | {e['mean_macro_auroc']:.4f} | {e['sd_macro_auroc']:.4f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the pools of runs and predict the fresh patient pools")
    t.add_argument("--pools", default="runs/calibration")
    t.add_argument("--real-seeds", type=int, default=15)
    t.add_argument("--arm-seeds", type=int, default=8)
    t.add_argument("--arms", default="oracle,noise-g0,noise-g1")
    t.add_argument("--sites", default="site-a,site-b,site-c", help="the fresh pools each run predicts")
    t.add_argument("--pool-patients", default="", help="fresh patients per pool, e.g. site-a=40000 "
                   f"(default {', '.join(f'{k}={v}' for k, v in POOL_PATIENTS.items())})")
    a = sub.add_parser("analyse", help="repetitions of the reported tests on the pools")
    a.add_argument("--pools", default="runs/calibration")
    a.add_argument("--reps", type=int, default=200)
    a.add_argument("--patients", type=int, default=2967, help="test patients per repetition (the quick design)")
    a.add_argument("--external-patients", type=int, default=2000,
                   help="test patients per repetition on the external sites (their pools hold 4,000)")
    a.add_argument("--seeds", type=int, default=8)
    a.add_argument("--generator-seeds", type=int, default=4,
                   help="seeds per arm in the two-noise-sets null (each noise set has at least this many runs)")
    a.add_argument("--sites", default="site-a,site-b,site-c")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--components-out", default=None, help="write the variance components (tasks/cxrbench/tasks/phantom.variance.json)")
    a.add_argument("--blend", type=float, nargs="*", default=[0.03, 0.06, 0.1, 0.2],
                   help="weights of the oracle run in the graded-effect blends")
    a.add_argument("--designs", default="", help="only these designs, e.g. null-per-seed-sets,oracle,blend "
                   "(null-seeds, null-generators, null-per-seed-sets, oracle, blend); default: all")
    a.add_argument("--out", default=None)
    m = sub.add_parser("table", help="print the Markdown tables of docs/stats.md from analyse's JSON")
    m.add_argument("json")
    args = parser.parse_args(argv)
    {"train": train, "analyse": analyse, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
