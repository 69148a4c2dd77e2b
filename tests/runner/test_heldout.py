"""Held-out eval sets end to end: the re-rendering cheat wins on the public dev sets and learns
nothing on the held-out ones; dev runs are what they were; held-out records name only the key."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from cxrbench.errors import ConfigError
from cxrbench.results import read_record
from cxrbench.runner.evaluate import evaluate
from cxrbench.trust.keys import new_key
from cxrbench.trust.populations import EvalPopulation
from cxrbench.trust.signing import check_signature

#: The attack: inside predict() it re-derives the task's eval rows from public code and seeds,
#: renders them with the shipped phantom source, looks each image up by its bytes and returns its
#: labels (0.5 where nothing matched). It writes how many images it matched to stderr.
CHEAT = '''
import sys
from pathlib import Path

import numpy as np

class Cheat:
    def __init__(self, submission_dir):
        self.dir = Path(submission_dir)
        self.answers = None  # rendered once, looked up for every shard

    def _answers(self, size):
        from cxrbench.runner.datasets import real_rows
        from cxrbench.tasking import get_task, parse_task_file

        try:
            spec = get_task("tiny/classify")
        except Exception:  # the test's task is not shipped: the cheat carries its public YAML
            spec = parse_task_file(self.dir / "task.yaml")[0]
        budget = spec.budget("quick")
        answers = {}
        for name, ref in spec.eval_sets.items():
            source, rows = real_rows(ref, budget.for_eval_set(name), max_images=budget.max_eval_images)
            labels = (rows[list(spec.labels)].to_numpy() == 1).astype(float)
            for pixels, label in zip(source.load_batch(rows, size), labels):
                answers[pixels.tobytes()] = label
        return answers, len(spec.labels)

    def predict(self, images):
        if self.answers is None:
            self.answers = self._answers(images.shape[1])
        answers, n_labels = self.answers
        out = np.full((len(images), n_labels), 0.5)
        matched = 0
        for i, image in enumerate(images):
            hit = answers.get(np.ascontiguousarray(image).tobytes())
            if hit is not None:
                out[i], matched = hit, matched + 1
        print(f"CHEAT matched {matched} of {len(images)}", file=sys.stderr)
        return out
'''


def _cheat_folder(root, task="tiny/classify"):
    root.mkdir()
    (root / "submission.yaml").write_text('name: cheat\nversion: "1"\nkind: classifier\nentry_point: cheat:Cheat\n')
    (root / "cheat.py").write_text(CHEAT.replace('"tiny/classify"', f'"{task}"'))
    return root


@pytest.fixture
def cheat(tiny_tasks, tmp_path):
    root = _cheat_folder(tmp_path / "cheat")
    (root / "task.yaml").write_text((tiny_tasks / "tiny-classify.yaml").read_text())
    return root


@pytest.fixture
def key(tmp_path):
    return new_key(tmp_path / "evaluator.key")


def _submission_rows(record_path):
    rec = read_record(record_path)
    table = pd.read_parquet(record_path.parent / rec.predictions_file)
    return rec, table[table["model"] == "submission"]


def test_cheat_wins_on_dev_sets_and_the_record_says_dev(tiny_tasks, run_opts, cheat):
    out = evaluate(cheat, ["tiny/classify"], run_opts)[0]
    rec, rows = _submission_rows(out.path)
    assert rec.status == "complete", rec.errors
    assert rec.evaluation.eval_sets == "dev" and rec.evaluation.evaluator_key is None
    assert rec.signature is None  # no key: nothing to sign with
    assert all(s.macro_auroc == 1.0 for s in rec.eval_sets), [s.macro_auroc for s in rec.eval_sets]
    labels = list(rec.task.labels)
    assert set(np.unique(rows[labels].to_numpy())) <= {0.0, 1.0}  # every eval image was looked up


def test_cheat_learns_nothing_on_held_out_sets(tiny_tasks, run_opts, cheat, key):
    run_opts.population = EvalPopulation(key=key, held_out=True)
    out = evaluate(cheat, ["tiny/classify"], run_opts)[0]
    rec, rows = _submission_rows(out.path)
    assert rec.status == "complete", rec.errors
    assert all(s.macro_auroc is not None and s.macro_auroc <= 0.55 for s in rec.eval_sets)
    labels = list(rec.task.labels)
    assert (rows[labels].to_numpy() == 0.5).all()  # not one held-out image matched a public render
    assert rec.evaluation.eval_sets == "held-out" and rec.evaluation.evaluator_key == key.fingerprint
    assert check_signature(rec).status == "valid" and rec.signature.key_fingerprint == key.fingerprint
    # nothing in the record or its predictions names a held-out image, patient or the key
    text = out.path.read_text() + rows.to_csv()
    assert not re.search(r"p[0-9]{6}/s[0-9]{2}", text) and key.secret.hex() not in text
    assert rows["image_id"].str.match(r"^i-[0-9a-f]{24}$").all()
    assert rows["patient_id"].str.match(r"^p-[0-9a-f]{24}$").all()


@pytest.mark.slow  # the shipped task: ~25,000 eval films rendered twice, one reference training (~20 min on 2 cores)
def test_cheat_learns_nothing_on_the_shipped_phantom_classify(run_opts, tmp_path, key):
    from cxrbench.submissions.bwrap import unavailable_reason

    if unavailable_reason() is not None:
        pytest.skip(f"held-out runs need the sandbox: {unavailable_reason()}")
    run_opts.seeds, run_opts.population = [0], EvalPopulation(key=key, held_out=True)
    out = evaluate(_cheat_folder(tmp_path / "cheat", "phantom/classify"), ["phantom/classify"], run_opts)[0]
    rec, rows = _submission_rows(out.path)
    assert rec.status == "complete", rec.errors
    assert [s.macro_auroc for s in rec.eval_sets] == [0.5, 0.5, 0.5]  # every answer is the 0.5 of "not found"
    assert (rows[list(rec.task.labels)].to_numpy() == 0.5).all() and len(rows) > 20_000


def test_held_out_populations_differ_by_key_and_keep_training_rows(tiny_tasks, tmp_path):
    from cxrbench.runner.datasets import eval_rows, real_rows
    from cxrbench.tasking import get_task

    spec = get_task("tiny/classify")
    b = spec.budget("quick")
    ref = spec.eval_sets["internal_test"]
    dev = eval_rows("internal_test", ref, b, EvalPopulation())[1]
    assert dev.equals(real_rows(ref, b.for_eval_set("internal_test"))[1])  # dev: exactly today's rows
    one = EvalPopulation(key=new_key(tmp_path / "a.key"), held_out=True)
    two = EvalPopulation(key=new_key(tmp_path / "b.key"), held_out=True)
    a, b2 = (eval_rows("internal_test", ref, b, p)[1] for p in (one, two))
    labels = list(spec.labels)
    for held in (a, b2):  # another population: its labels and demographics are new draws
        assert not held[labels + ["age"]].reset_index(drop=True).equals(dev[labels + ["age"]].reset_index(drop=True))
    assert not a[labels].equals(b2[labels])
    for name in ("real_train", "val"):  # training and validation rows never change
        part = getattr(spec, name)
        assert one.phantom_seed(part) is None and real_rows(part, b)[1].equals(real_rows(part, b)[1])


def test_dev_records_match_the_keyless_run(tiny_tasks, run_opts, cheat, key, tmp_path):
    """With a key and `--eval-sets dev`, the numbers and predictions are the keyless run's; the record is signed."""
    plain = evaluate(cheat, ["tiny/classify"], run_opts)[0]
    run_opts.out_dir = tmp_path / "signed"
    run_opts.population = EvalPopulation(key=key, held_out=False)
    signed = evaluate(cheat, ["tiny/classify"], run_opts)[0]
    a, b = read_record(plain.path), read_record(signed.path)
    assert a.eval_sets == b.eval_sets and a.split_fingerprints == b.split_fingerprints
    assert a.predictions_sha256 == b.predictions_sha256
    assert b.evaluation.eval_sets == "dev" and check_signature(b).status == "valid"


def test_precomputed_classifier_cannot_score_held_out_sets(tiny_tasks, run_opts, tmp_path, key):
    root = tmp_path / "pre"
    root.mkdir()
    (root / "submission.yaml").write_text('name: pre\nversion: "1"\nkind: classifier\n'
                                          'precomputed: {predictions: p.csv}\n')
    (root / "p.csv").write_text("image_id,Cardiomegaly\n")  # a valid table: the key is what is refused
    run_opts.population = EvalPopulation(key=key, held_out=True)
    rec = evaluate(root, ["tiny/classify"], run_opts)[0].record
    assert rec.status == "failed" and "held-out eval images are never published" in rec.errors[0]


def test_unsandboxed_code_never_runs_with_a_key(tiny_tasks, run_opts, cheat, key):
    run_opts.population = EvalPopulation(key=key, held_out=True)
    run_opts.unsafe_no_sandbox = True
    with pytest.raises(ConfigError, match="could read the key"):
        evaluate(cheat, ["tiny/classify"], run_opts)


def test_real_data_eval_sets_must_be_private_when_held_out(key):
    from cxrbench.tasking import get_task

    spec = get_task("chexpert/supplement-100")
    with pytest.raises(ConfigError, match="declare each one private"):
        EvalPopulation(key=key, held_out=True).check_task(spec.name, spec.eval_sets)
    EvalPopulation().check_task(spec.name, spec.eval_sets)  # dev: the public test split, as before


#: A generator that answers its training rows with the task's public test films (exact copies): the
#: leak the audit flags on the dev sets. Under a key those films are not the held-out ones.
LEAKER = '''
from pathlib import Path

import numpy as np

class Gen:
    def __init__(self, submission_dir):
        self.dir = Path(submission_dir)

    def generate(self, conditions, seeds, size):
        from cxrbench.runner.datasets import real_rows
        from cxrbench.tasking import parse_task_file

        spec = parse_task_file(self.dir / "task.yaml")[1]  # tiny/supplement-100
        budget = spec.budget("quick")
        films = []
        for name, ref in spec.eval_sets.items():
            source, rows = real_rows(ref, budget.for_eval_set(name), max_images=budget.max_eval_images)
            films.append(source.load_batch(rows, size))
        films = np.concatenate(films)
        return films[np.arange(len(seeds)) % len(films)]
'''


def test_a_generator_leaking_public_test_films_cannot_reach_held_out_ones(tiny_tasks, run_opts, tmp_path, key):
    root = tmp_path / "leaker"
    root.mkdir()
    (root / "submission.yaml").write_text('name: leaker\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n'
                                          'training_data: []\n')
    (root / "gen.py").write_text(LEAKER)
    (root / "task.yaml").write_text((tiny_tasks / "tiny.yaml").read_text())
    run_opts.seeds = [0]
    dev = evaluate(root, ["tiny/supplement-100"], run_opts)[0].record
    assert dev.status == "failed" and dev.audit["leakage_flag"] and "test leakage" in dev.errors[0]
    run_opts.population = EvalPopulation(key=key, held_out=True)
    held = evaluate(root, ["tiny/supplement-100"], run_opts)[0].record
    assert held.status == "complete", held.errors
    assert not held.audit["leakage_flag"]
    assert all(space["n_near_duplicate"] == 0 for space in held.audit["leakage"]["spaces"])
