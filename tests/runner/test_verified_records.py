"""Verified records end to end: an evaluator signs what it computes, `publish` ranks by who computed
it, and the forged-baseline attack (degrade the baseline rows, rescore, reseal) is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from cxrbench.leaderboard.publish import publish
from cxrbench.leaderboard.trusted_keys import add_trusted
from cxrbench.results import ResultRecord, read_record, write_record
from cxrbench.runner.evaluate import evaluate
from cxrbench.runner.score_inputs import label_sets, rescore
from cxrbench.tasking import get_task
from cxrbench.trust.keys import new_key
from cxrbench.trust.populations import EvalPopulation

ORACLE = "from cxrbench.data.phantom import render\nclass Gen:\n    def generate(self, c, s, size):\n        return render(c, s, size)\n"
NOISE = ("import numpy as np\nclass Gen:\n    def generate(self, c, s, size):\n"
         "        return np.stack([np.random.default_rng(int(x)).integers(0, 256, (size, size), dtype=np.uint8) for x in s])\n")


def _generator(root, name, body):
    root.mkdir(parents=True)
    (root / "submission.yaml").write_text(f'name: {name}\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n'
                                          'training_data: []\n')
    (root / "gen.py").write_text(body)
    return root


@pytest.fixture(scope="module")
def runs(tiny_tasks_module, tmp_path_factory):
    """oracle and noise on tiny/supplement-100 (one seed), on dev and on held-out sets, signed by `key`."""
    from cxrbench.runner.evaluate import RunOptions
    from cxrbench.submissions.bwrap import unavailable_reason

    if unavailable_reason() is not None:
        pytest.skip(f"held-out runs need the sandbox: {unavailable_reason()}")
    tmp = tmp_path_factory.mktemp("verified")
    key = new_key(tmp / "evaluator.key")
    subs = {"oracle": _generator(tmp / "oracle", "oracle", ORACLE), "noise": _generator(tmp / "noise", "noise", NOISE)}
    out = {"key": key, "tmp": tmp}
    for population in (EvalPopulation(key=key), EvalPopulation(key=key, held_out=True)):
        opts = RunOptions(budget="quick", out_dir=tmp / population.name, cache_root=tmp / "cache", seeds=[0],
                          population=population)
        for name, sub in subs.items():
            rec = evaluate(sub, ["tiny/supplement-100"], opts)[0]
            assert rec.record.status == "complete", rec.record.errors
            out[(population.name, name)] = rec.path
    return out


def _store(runs, name, trusted=True):
    store = runs["tmp"] / "stores" / name
    store.mkdir(parents=True)
    if trusted:
        add_trusted(store, runs["key"].public_key_b64, "the evaluator")
    return store


def _copy(path, to):
    """A record and its predictions, copied to a fresh folder (a submitter's upload)."""
    to.mkdir(parents=True)
    rec = read_record(path)
    shutil.copy(path.parent / rec.predictions_file, to / rec.predictions_file)
    return shutil.copy(path, to / path.name)


def _forge_baseline(path, to, population: EvalPopulation, *, keep_signature: bool, weight: float = 0.5):
    """The attack: blend noise into the baseline rows, rescore with the scorer's own function, reseal."""
    rec = ResultRecord.model_validate(json.loads(path.read_text()))
    table = pd.read_parquet(path.parent / rec.predictions_file)
    labels = list(rec.task.labels)
    base = table["model"] == "baseline"
    noise = np.random.default_rng(0).random((int(base.sum()), len(labels)))
    table.loc[base, labels] = ((1 - weight) * table.loc[base, labels].to_numpy() + weight * noise).astype(np.float32)
    spec = get_task(rec.task.name)
    scored = rescore(rec, table, label_sets(spec, spec.budget("quick"), population), against=spec.baseline,
                     primary_eval_set=spec.primary.eval_set, eligibility=spec.eligibility)
    for field in ("eval_sets", "comparisons", "subgroups", "subgroup_summaries"):
        setattr(rec, field, getattr(scored, field))
    to.mkdir(parents=True)
    table.to_parquet(to / rec.predictions_file, index=False)
    import hashlib

    rec.predictions_sha256 = hashlib.sha256((to / rec.predictions_file).read_bytes()).hexdigest()
    signature, rec.signature = rec.signature, None
    write_record(rec, to / path.name)
    if keep_signature:  # resealed, the old signature pasted back
        raw = json.loads((to / path.name).read_text())
        raw["signature"] = signature.model_dump(mode="json")
        (to / path.name).write_text(json.dumps(raw))
    return to / path.name, rec


def test_held_out_record_of_a_trusted_key_is_verified(runs):
    store = _store(runs, "verified")
    held = (EvalPopulation(key=runs["key"], held_out=True),)
    report = publish([runs[("held-out", "oracle")], runs[("held-out", "noise")]], store, compare=True,
                     populations=held)
    assert report.ok, report.rejected
    standings = {p.name: s for p, s in report.standings.items()}
    assert {s.standing for s in standings.values()} == {"verified"}
    assert all(f"held-out-{runs['key'].fingerprint}" in str(p) for p in report.published)
    arms = json.loads((store / "baselines.json").read_text())["arms"]
    assert list(arms) == ["quick/tiny/supplement-0@1"]
    assert list(arms["quick/tiny/supplement-0@1"]) == [f"held-out:{runs['key'].fingerprint}"]
    assert f"reference arm tiny/supplement-0 (held-out:{runs['key'].fingerprint}) set from oracle@1 on " \
           "tiny/supplement-100" in report.notes
    # without the key, the trusted signature vouches for the numbers (nothing to rescore them with)
    report = publish([runs[("held-out", "oracle")]], _store(runs, "no-key"), compare=False)
    assert report.ok and any("numbers not recomputed here" in n for n in report.notes)
    # an untrusted key's held-out record cannot be checked by anyone here: refused
    report = publish([runs[("held-out", "oracle")]], _store(runs, "untrusted", trusted=False), compare=False)
    assert not report.ok and "nothing could check its numbers" in report.rejected[0][1]


def test_dev_records_are_self_reported_whoever_signed_them(runs):
    key = runs["key"]
    report = publish([runs[("dev", "oracle")]], _store(runs, "dev-trusted"), compare=False)
    standing, = report.standings.values()
    assert (standing.standing, standing.population) == ("self-reported", "dev")
    assert "scored on the public dev sets" in standing.reason
    report = publish([runs[("dev", "oracle")]], _store(runs, "dev-untrusted", trusted=False), compare=False)
    standing, = report.standings.values()
    assert standing.standing == "self-reported" and key.fingerprint in standing.reason
    assert "does not trust" in standing.reason


def test_forged_baseline_with_its_signature_is_refused_naming_the_field(runs):
    population = EvalPopulation(key=runs["key"], held_out=True)
    forged, _ = _forge_baseline(runs[("held-out", "noise")], runs["tmp"] / "forged-signed", population,
                                keep_signature=True)
    report = publish([forged], _store(runs, "forged-signed"), compare=False, populations=(population,))
    assert not report.ok
    reason = report.rejected[0][1]
    assert f"signature by key {runs['key'].fingerprint} does not verify" in reason
    assert "field `comparisons` changed after it was signed" in reason


def test_forged_baseline_without_signature_is_refused_against_the_evaluators_arm(runs):
    """The issue's attack on the dev sets: the store holds the evaluator's arm (from its signed
    oracle record), so the noise record with a degraded, rescored, resealed baseline is refused."""
    store = _store(runs, "forged-dev")
    assert publish([runs[("dev", "oracle")]], store, compare=False).ok  # sets the verified dev arm
    genuine = read_record(runs[("dev", "noise")])
    forged, rec = _forge_baseline(runs[("dev", "noise")], runs["tmp"] / "forged-dev", EvalPopulation(),
                                  keep_signature=False)
    assert abs(rec.comparisons[0].delta - genuine.comparisons[0].delta) > 0.01  # the forged Δ is another number
    report = publish([forged], store, compare=False)
    assert not report.ok
    reason = report.rejected[0][1]
    assert "tiny/supplement-0 arm is not the evaluator's reference run" in reason
    assert "internal_test seed 0" in reason and "in the evaluator's reference run" in reason and "explained by the setting" in reason
    # the genuine record of the same submission publishes (self-reported: scored on dev sets)
    report = publish([_copy(runs[("dev", "noise")], runs["tmp"] / "genuine-dev")], store, compare=False)
    assert report.ok, report.rejected


def test_a_reference_arm_from_another_machine_passes_within_tolerance(runs):
    """Other bytes (another CPU or thread count rounds the last bits differently) but the same
    AUROC within the setting's noise (a paired test over the same seeds): accepted, and the publisher is told."""
    store = _store(runs, "other-machine")
    assert publish([runs[("dev", "oracle")]], store, compare=False).ok
    jitter, _ = _forge_baseline(runs[("dev", "noise")], runs["tmp"] / "other-machine", EvalPopulation(),
                                keep_signature=False, weight=1e-6)
    report = publish([jitter], store, compare=False)
    assert report.ok, report.rejected
    assert any("other bytes than the evaluator's" in n and "within the setting's noise" in n for n in report.notes), report.notes


def _cli(monkeypatch, capsys, *args) -> tuple[int, str]:
    """`cxrbench ARGS` through the console entry point: (exit status, stdout + stderr)."""
    import sys

    from cxrbench.cli import main

    monkeypatch.setattr(sys, "argv", ["cxrbench", *map(str, args)])
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    return exit_.value.code, out.out + out.err


def test_arms_only_sets_the_dev_arm_and_the_cli_refuses_the_forged_baseline(runs, monkeypatch, capsys):
    """An entry published before records were signed gets its dev arm from a signed rerun
    (`publish --arms-only`, which stores no record); then the forged-baseline upload is refused
    through the command line, exit status non-zero, the eval set and seed named."""
    store = _store(runs, "arms-only")
    code, out = _cli(monkeypatch, capsys, "publish", "--results", store, "--no-compare", "--arms-only",
                     runs[("dev", "oracle")])
    assert code == 0, out
    assert "reference arm tiny/supplement-0 (dev) set from oracle@1 on tiny/supplement-100" in out
    assert not list(store.rglob("oracle@1.json"))  # no record stored
    arms = json.loads((store / "baselines.json").read_text())["arms"]
    assert list(arms["quick/tiny/supplement-0@1"]) == ["dev"]
    forged, _ = _forge_baseline(runs[("dev", "noise")], runs["tmp"] / "forged-cli", EvalPopulation(),
                                keep_signature=False)
    code, out = _cli(monkeypatch, capsys, "publish", "--results", store, "--no-compare", forged)
    assert code != 0 and "rejected" in out and "tiny/supplement-0 arm is not the evaluator's reference run" in out
    assert "internal_test seed 0" in out and not list(store.rglob("noise@1.json"))
    # a second signed run with the same arm only confirms it; an untrusted signer sets nothing
    report = publish([runs[("dev", "oracle")]], store, compare=False, arms_only=True)
    assert report.ok and any("is already set; oracle@1 on tiny/supplement-100 matches it" in n for n in report.notes)
    report = publish([runs[("dev", "oracle")]], _store(runs, "arms-untrusted", trusted=False), compare=False,
                     arms_only=True)
    assert not report.ok and "only a record signed by a trusted key sets a reference arm" in report.rejected[0][1]
