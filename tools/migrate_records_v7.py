"""Migrate result records (and a store's pairwise.json) to schema 7: comparisons re-tested at the
seed spread's degrees of freedom, with the MDE of that test and the reason of a verdict without one.

Schema 7 changes what a comparison reports, not the predictions it was computed from. Every new
number is a function of numbers a version-2…6 comparison holds (`cxrbench.runner.comparison`
decides the rest, exactly as for a fresh record):

- the macro Δ stores se, var_test and var_seed: the t-test at S − 1 degrees of freedom (paired),
  its CI and MDE follow;
- a label's Δ stores no se, but its CI half-width h = t_{0.975,ν}·se and its p = 2·T_ν(−|Δ|/se)
  fix both ν (the Welch–Satterthwaite degrees of freedom it was tested at) and se: solved here
  and checked by recomputing the stored CI and p (to 1e-9); then p, CI and Holm at S − 1.

One-arm figures (eval sets, per-label AUROCs, subgroups) do not change. A record older than schema 5
gains the schema-5 population fields as `cxrbench publish` recomputes them from the record's own
declaration (keys without patient counts: no group; `task.more_real_data` from the task); the
schema-6 fields keep their defaults (the task's labels scored, no smoke limit, replica sizes not
measured). Each unsigned record is resealed at schema 7. A signed one is migrated and re-signed only
with the key that signed it (`--evaluator-key PATH` or $CXRBENCH_EVALUATOR_KEY; only the key's
holder can); without it, it stays as its evaluator signed it. The task's pairwise.json follows (its
comparisons migrated the same way, its content hashes updated), and so do the record hashes that
the store's baselines.json names. A record whose predictions are regenerated (`cxrbench reproduce`)
checks the migration: `publish` recomputes every number from the predictions and must find these.

    python tools/migrate_records_v7.py leaderboard/cxrbench/leaderboard/results [--evaluator-key PATH]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from scipy.optimize import brentq
from scipy.special import stdtr, stdtrit

from cxrbench.leaderboard.baselines import read_baselines, write_baselines
from cxrbench.leaderboard.store import pairwise_files, pairwise_to_json, record_files
from cxrbench.results import SCHEMA_VERSION, Comparison, ResultRecord, read_record, write_record
from cxrbench.runner.comparison import comparison_from
from cxrbench.runner.population import population_fields
from cxrbench.stats.seed_patient import SeedPatientResult, tested_difference
from cxrbench.tasking import get_task
from cxrbench.trust.keys import EvaluatorKey, key_from_options

#: the largest relative error accepted when the recovered (se, ν) recompute a label's stored CI and p
CHECK = 1e-9


def label_se(delta: float, ci_low: float, ci_high: float, p: float, confidence: float = 0.95) -> float:
    """The se of a per-label Δ from its stored CI and p (both from one t with unknown ν ≥ 1)."""
    half = (ci_high - ci_low) / 2
    q = 0.5 + confidence / 2
    if half == 0:  # identical predictions (the baseline task's records): zero variance, no test
        return 0.0

    def mismatch(log_dof: float) -> float:
        dof = math.exp(log_dof)
        return abs(delta) * stdtrit(dof, q) / half + stdtrit(dof, p / 2)  # −t_{p/2}: accurate at tiny p

    lo, hi = 0.0, math.log(1e12)
    if mismatch(lo) * mismatch(hi) > 0:
        raise ValueError(f"no t gives Δ {delta}, CI [{ci_low}, {ci_high}] and p {p}")
    dof = math.exp(brentq(mismatch, lo, hi, xtol=1e-14, rtol=1e-15, maxiter=500))
    se = half / stdtrit(dof, q)
    for got, want in ((delta - stdtrit(dof, q) * se, ci_low), (2 * stdtr(dof, -abs(delta) / se), p)):
        if not math.isclose(got, want, rel_tol=CHECK, abs_tol=1e-15):
            raise ValueError(f"recovered se {se} (ν {dof}) gives {got}, the record {want}")
    return float(se)


def migrate_comparison(c: Comparison, rule) -> Comparison:
    """A version-2…6 comparison (paired seeds, both arms trained) as a version-7 record reports it."""
    if not c.paired_seeds or c.delta is None or c.se is None:
        raise ValueError(f"{c.eval_set}: only paired comparisons with a test can be migrated from their numbers")
    dof = c.n_seeds - 1
    macro = tested_difference(c.delta, c.var_test, [(c.var_seed, dof)])
    per_label = {d.label: tested_difference(d.delta, 0.0, [(label_se(d.delta, d.ci_low, d.ci_high, d.p_value)**2,
                                                            dof)]) for d in c.labels}
    res = SeedPatientResult(macro, per_label, tuple(c.macro_labels), 0, 0, c.n_seeds, c.n_seeds_against, True, 0.95,
                            {d.label: (d.auroc, d.baseline_auroc) for d in c.labels})
    return comparison_from(res, name=c.eval_set, against=c.against, endpoint=c.endpoint, rule=rule)


def migrate_record(record: ResultRecord) -> ResultRecord:
    task = get_task(record.task.name)
    out = record.model_copy(deep=True)
    out.comparisons = [migrate_comparison(c, task.eligibility) for c in record.comparisons]
    if record.schema_version < 5:  # the population fields publish would compute from this record
        s = out.submission
        for name, value in population_fields(s.declared_training_data, s.training_population, s.kind, task,
                                             task.budgets.get(record.task.budget)).items():
            setattr(s, name, value)
        out.task.more_real_data = task.more_real_data
    out.schema_version = SCHEMA_VERSION
    return out


def main(store: str, key: EvaluatorKey | None = None) -> None:
    files = record_files(Path(store))
    new_sha = {}
    for path in files:
        record = read_record(path)
        if record.schema_version >= SCHEMA_VERSION:
            continue
        signer = None
        if record.signature is not None:  # resealing voids the evaluator's signature: only its key re-signs it
            if key is None or key.fingerprint != record.signature.key_fingerprint:
                print(f"{path}: signed at schema {record.schema_version} by {record.signature.key_fingerprint}, "
                      f"kept as it is (that key re-signs it)")
                continue
            signer = key
        migrated = migrate_record(record)
        write_record(migrated, path, signer=signer)
        new_sha[record.content_sha256] = migrated.content_sha256
        print(f"{path}: schema {record.schema_version} → {SCHEMA_VERSION}, {len(migrated.comparisons)} comparison(s)"
              + (f", re-signed by {signer.fingerprint}" if signer else ""))
    for path in pairwise_files(Path(store)):
        data = json.loads(path.read_text())
        rule = get_task(data["task"]).eligibility
        pairs = [pair for pair in data["pairs"] if pair["a_sha256"] in new_sha or pair["b_sha256"] in new_sha]
        if not pairs:  # none of its records migrated now: already at schema 7
            continue
        for pair in pairs:
            pair["comparisons"] = [migrate_comparison(Comparison.model_validate(c), rule).model_dump(mode="json")
                                   for c in pair["comparisons"]]
            pair["a_sha256"] = new_sha.get(pair["a_sha256"], pair["a_sha256"])
            pair["b_sha256"] = new_sha.get(pair["b_sha256"], pair["b_sha256"])
        path.write_text(pairwise_to_json(data))
        print(f"{path}: {len(pairs)} of {len(data['pairs'])} pair(s)")
    baselines = read_baselines(Path(store))  # the verified arms name the record that set them
    slots = [slot for arm in baselines["arms"].values() for slot in arm.values() if slot["record_sha256"] in new_sha]
    for slot in slots:
        slot["record_sha256"] = new_sha[slot["record_sha256"]]
    if slots:
        write_baselines(Path(store), baselines)
        print(f"baselines.json: {len(slots)} arm(s) name their migrated record")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="a leaderboard store (a folder of published records)")
    parser.add_argument("--evaluator-key", help="the key that signed the store's signed records (re-signs them)")
    args = parser.parse_args()
    main(args.store, key_from_options(args.evaluator_key))
